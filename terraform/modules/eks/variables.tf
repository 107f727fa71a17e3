variable "cluster_name" {
  description = "The EKS cluster's name."
  type        = string
}

variable "kubernetes_version" {
  description = "The control plane's Kubernetes version (deploy/check-platform.sh validates the manifests against it and the next minor)."
  type        = string
  default     = "1.33"
}

variable "vpc_id" {
  description = "The VPC the cluster runs in."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (one per zone) for the control plane's network interfaces and the nodes."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "Addresses that may reach the public API endpoint (CI runners, the office VPN). Empty turns the public endpoint off: kubectl then needs a way into the VPC."
  type        = list(string)
}

variable "node_instance_types" {
  description = "Instance types of the managed node group, in order of preference."
  type        = list(string)
  default     = ["m7i.large", "m6i.large"]
}

variable "node_min_size" {
  description = "Fewest nodes (at least one per zone, so the shop's replicas can spread)."
  type        = number
  default     = 3
}

variable "node_max_size" {
  description = "Most nodes: room for every HPA at its maximum (7 services x 6 replicas) and the engine."
  type        = number
  default     = 9
}

variable "node_desired_size" {
  description = "Nodes at creation; a cluster autoscaler (or Karpenter) moves it afterwards."
  type        = number
  default     = 3
}

variable "admin_role_arns" {
  description = "IAM roles given cluster-admin through EKS access entries (people's SSO roles, the Terraform apply role). The role that creates the cluster is admin too."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
