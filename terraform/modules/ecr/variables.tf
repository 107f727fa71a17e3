variable "repositories" {
  description = "Repository names: the shop's image and the engine's (deploy/docker/Dockerfile, BINARY=shop and BINARY=aiops)."
  type        = list(string)
  default     = ["aiops/shop", "aiops/engine"]
}

variable "keep_images" {
  description = "Tagged images kept per repository; older ones expire. Enough to roll back over several releases (the engine rolls back to the previous ReplicaSet's image)."
  type        = number
  default     = 50
}

variable "kms_key_arn" {
  description = "The customer managed KMS key the images are encrypted with; null makes one."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
