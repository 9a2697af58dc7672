output "vnet_id" {
  description = "Virtual network id."
  value       = azurerm_virtual_network.this.id
}

output "nodes_subnet_id" {
  description = "AKS node subnet id."
  value       = azurerm_subnet.nodes.id
}
