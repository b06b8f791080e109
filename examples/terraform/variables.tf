# --- kindling ------------------------------------------------------------------

variable "kindling_url" {
  description = "kindling's base URL as operators reach it, e.g. https://kindling.example.internal (no trailing slash). The nodes use kindling's own --public-url, which is written into the pointer config."
  type        = string

  validation {
    condition     = can(regex("^https?://[^/]+$", var.kindling_url))
    error_message = "kindling_url must be http(s)://host[:port], without a path or trailing slash."
  }
}

variable "kindling_admin_token" {
  description = "kindling's admin token (the content of its --admin-token-file). Pass it as TF_VAR_kindling_admin_token; it never goes into a .tf file."
  type        = string
  sensitive   = true
}

variable "kindling_ca_pem" {
  description = "PEM CA that signed kindling's TLS certificate when it is not in the system store (null: the system store). Used to fetch the pointer; for the restapi provider see root_ca_file in main.tf."
  type        = string
  default     = null
}

variable "cluster_name" {
  description = "The kindling cluster's name: a DNS label (1-63 of a-z, 0-9, -; not starting or ending with -). Also names the AWS resources."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be a DNS label: 1-63 of a-z, 0-9 and -, not starting or ending with -."
  }
}

variable "cluster_size" {
  description = "Number of nodes: the etcd discovery size and the autoscaling group's size. Fixed for the cluster's life (changing it replaces the kindling cluster, and so its discovery URL)."
  type        = number
  default     = 3

  validation {
    condition     = var.cluster_size >= 1 && var.cluster_size <= 99 && floor(var.cluster_size) == var.cluster_size
    error_message = "cluster_size must be a whole number from 1 to 99."
  }
}

variable "profiles" {
  description = "kindling profiles rendered into every node's Ignition config (GET /profiles lists them)."
  type        = list(string)
  default     = ["etcd", "rabbitmq"]
}

variable "cluster_vars" {
  description = "Profile variables (strings). Changing them PATCHes the cluster (new generation); nodes get the new config at their next first boot, no new launch template needed."
  type        = map(string)
  default     = {}
}

variable "ignition_version" {
  description = "Ignition spec of the cluster's configs: 3.x for Flatcar / Fedora CoreOS, 2.x for legacy Container Linux (null: kindling's --ignition-version, 3.3.0)."
  type        = string
  default     = null
}

variable "pin_generation" {
  description = "Put a sha512 verification hash of the exact config into the pointer. Safer, but every PATCH of cluster_vars then changes the user data, and so the launch template."
  type        = bool
  default     = false
}

# --- AWS -----------------------------------------------------------------------

variable "ami_id" {
  description = "Flatcar Container Linux or Fedora CoreOS AMI for the region (their release pages list one per region)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the nodes."
  type        = string
  default     = "t3.medium"
}

variable "subnet_ids" {
  description = "Subnets the autoscaling group places nodes in. The nodes must reach kindling's --public-url."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the nodes: between nodes allow etcd 2379-2380 and RabbitMQ 4369, 5672, 25672, 35672-35682; outbound to kindling's port."
  type        = list(string)
}

variable "key_name" {
  description = "EC2 key pair for ssh as core@ (null: none)."
  type        = string
  default     = null
}

variable "require_imdsv2" {
  description = "Require IMDSv2 tokens. Ignition on Flatcar and Fedora CoreOS supports them; legacy Container Linux (Ignition 0.x) does not: set false there."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags for the launch template, the autoscaling group and the nodes."
  type        = map(string)
  default     = {}
}
