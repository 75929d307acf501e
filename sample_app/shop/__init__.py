"""The shop app: catalogue, reviews, orders, and the endpoints the fleet demo exercises."""
