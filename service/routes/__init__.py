"""HTTP routes, one module per resource; ``service.app`` lists them."""
