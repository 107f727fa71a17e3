output "load_balancer_controller_version" {
  description = "The installed aws-load-balancer-controller chart version."
  value       = helm_release.aws_load_balancer_controller.version
}

output "external_secrets_version" {
  description = "The installed external-secrets chart version."
  value       = helm_release.external_secrets.version
}
