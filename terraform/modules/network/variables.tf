variable "name" {
  description = "Name prefix of every network resource (the environment's name, e.g. aiops-prod)."
  type        = string
}

variable "cidr" {
  description = "The VPC's address range. deploy/k8s's network policies allow the ALB and the data stores from 10.0.0.0/16: change them together."
  type        = string
  default     = "10.0.0.0/16"
}

variable "azs" {
  description = "The availability zones to spread the subnets over, named (three: a zone can fail and the shop keeps a majority). Named rather than looked up, so a zone AWS adds later never moves a subnet."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2 && length(var.azs) <= 6
    error_message = "Use between 2 and 6 availability zones."
  }
}

variable "cluster_name" {
  description = "The EKS cluster's name, tagged on the subnets so the load balancer controller finds them."
  type        = string
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper) instead of one per zone (a zone's outage does not cut the others' egress)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
