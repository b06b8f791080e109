terraform {
  # terraform_data, lifecycle postconditions, optional() object attributes
  required_version = ">= 1.4"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    # Creates, reads, patches and deletes the cluster through kindling's API.
    restapi = {
      source  = "Mastercard/restapi"
      version = "~> 1.19"
    }
    # Fetches the cluster's pointer config (GET /clusters/NAME/userdata).
    http = {
      source  = "hashicorp/http"
      version = "~> 3.4"
    }
  }
}
