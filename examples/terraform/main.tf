# A kindling cluster and the AWS machines that boot from it.
#
#   1. restapi_object.cluster   POST /clusters (then GET, PATCH vars, DELETE)
#   2. data.http.pointer        GET /clusters/NAME/userdata: the pointer config
#   3. aws_launch_template      user_data = that pointer (a few hundred bytes)
#   4. aws_autoscaling_group    min = max = desired = the cluster's size
#
# At first boot each node's Ignition reads the pointer from EC2 user data,
# fetches the real config from kindling with the cluster's fetch token, and
# kindling records the fetch; the etcd members then bootstrap through the
# cluster's discovery URL. See README.md.

locals {
  tags = merge(var.tags, {
    "kindling-cluster" = var.cluster_name
  })

  # The body of POST /clusters. `ignition_version` only when it is set, so
  # kindling's --ignition-version applies otherwise.
  cluster_body = merge(
    {
      name     = var.cluster_name
      size     = var.cluster_size
      profiles = var.profiles
      vars     = var.cluster_vars
    },
    { for k, v in { ignition_version = var.ignition_version } : k => v if v != null },
  )
}

provider "restapi" {
  uri = var.kindling_url

  # POST /clusters answers 201 with the cluster; PATCH answers 200 with it.
  create_returns_object = true
  write_returns_object  = true
  # Objects are addressed by name: /clusters/{name}.
  id_attribute = "name"
  # kindling changes vars with PATCH (a JSON merge patch); there is no PUT.
  update_method = "PATCH"
  timeout       = 30

  headers = {
    Authorization = "Bearer ${var.kindling_admin_token}"
    Content-Type  = "application/json"
    # kindling negotiates: JSON for API clients, HTML for browsers.
    Accept = "application/json"
  }

  # With a private CA for kindling's TLS certificate, trust it here too:
  # root_ca_file = "kindling-ca.pem"
}

# The cluster in kindling. kindling allocates its discovery URL, a fetch token
# and the generated secrets (e.g. the Erlang cookie) when it is created.
resource "restapi_object" "cluster" {
  path = "/clusters"
  data = jsonencode(local.cluster_body)

  # Only vars can change in place (PATCH bumps the cluster's generation).
  # kindling refuses to change the rest, so Terraform replaces the cluster:
  # DELETE (its discovery data and fetch log go too) then POST.
  update_data = jsonencode({ vars = var.cluster_vars })
  force_new   = ["name", "size", "profiles", "ignition_version"]
}

# The pointer config, exactly as kindling serves it. It names
# /clusters/NAME/ignition and carries the fetch token (an httpHeaders entry
# for spec >= 3.1, ?token= for older), so this value is a secret too.
data "http" "pointer" {
  url = "${var.kindling_url}/clusters/${restapi_object.cluster.id}/userdata${var.pin_generation ? "?hash=1" : ""}"

  request_headers = {
    Authorization = "Bearer ${var.kindling_admin_token}"
    Accept        = "application/json"
  }
  ca_cert_pem = var.kindling_ca_pem

  retry {
    attempts     = 3
    min_delay_ms = 1000
  }

  lifecycle {
    postcondition {
      condition     = self.status_code == 200 && can(jsondecode(self.response_body).ignition.config.replace.source)
      error_message = "kindling did not return a pointer config for ${var.cluster_name}: HTTP ${self.status_code}: ${self.response_body}"
    }
    postcondition {
      # EC2 takes at most 16 KB of user data; a pointer is a few hundred bytes.
      condition     = length(self.response_body) < 16384
      error_message = "the pointer config is over EC2's 16 KB user data limit."
    }
  }
}

resource "aws_launch_template" "node" {
  name_prefix   = "${var.cluster_name}-"
  description   = "kindling cluster ${var.cluster_name}: nodes fetch their Ignition config from ${var.kindling_url}"
  image_id      = var.ami_id
  instance_type = var.instance_type
  key_name      = var.key_name

  vpc_security_group_ids = var.security_group_ids

  # Only the pointer: the real config stays in kindling. A PATCH of the
  # cluster's vars does not change it (unless pin_generation), so no new
  # launch template version is needed for a config change.
  user_data = base64encode(data.http.pointer.response_body)

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = var.require_imdsv2 ? "required" : "optional"
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.cluster_name}-node" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }

  tags = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

# Exactly cluster_size nodes. etcd discovery bootstraps a cluster of that size
# once: a node that boots later (a replacement) finds the discovery full and
# must be added with `etcdctl member add` by hand, so this group never grows,
# never rebalances by itself and has no instance refresh. A new launch template
# version (a rotated fetch token, pin_generation) applies to nodes launched
# from then on; running nodes are not replaced.
resource "aws_autoscaling_group" "nodes" {
  name_prefix         = "${var.cluster_name}-"
  min_size            = var.cluster_size
  max_size            = var.cluster_size
  desired_capacity    = var.cluster_size
  vpc_zone_identifier = var.subnet_ids

  health_check_type         = "EC2"
  health_check_grace_period = 300
  suspended_processes       = ["AZRebalance"]

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${var.cluster_name}-node" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}
