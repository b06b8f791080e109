output "cluster_id" {
  description = "kindling's id of the cluster."
  value       = jsondecode(restapi_object.cluster.api_response).id
}

output "discovery_url" {
  description = "The etcd discovery URL kindling allocated (its token is the secret of the URL)."
  value       = jsondecode(restapi_object.cluster.api_response).discovery_url
  sensitive   = true
}

output "ignition_url" {
  description = "Where the nodes fetch their config (with the fetch token from the pointer)."
  value       = jsondecode(restapi_object.cluster.api_response).ignition_url
}

output "members" {
  description = "Members registered in discovery / size, as of the last refresh (terraform refresh, or GET /clusters/NAME)."
  value       = "${jsondecode(restapi_object.cluster.api_response).members.registered}/${jsondecode(restapi_object.cluster.api_response).members.size}"
}

output "launch_template_id" {
  value = aws_launch_template.node.id
}

output "autoscaling_group_name" {
  value = aws_autoscaling_group.nodes.name
}
