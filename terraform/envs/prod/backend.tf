# state in s3 (versioned, encrypted), locked in dynamodb so two applies
# never interleave. the bucket and table are made once, by hand, before the
# first init (deploy/k8s/README.md: "terraform: first time"); a backend
# cannot read variables, so their names are written here.
terraform {
  backend "s3" {
    bucket         = "aiops-terraform-state"
    key            = "envs/prod/terraform.tfstate"
    region         = "eu-west-1"
    dynamodb_table = "aiops-terraform-locks"
    encrypt        = true
  }
}
