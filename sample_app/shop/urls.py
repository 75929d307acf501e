"""Routes of the shop, mounted under ``shop/`` (so route labels read ``shop/products/<int:pk>/``)."""

from __future__ import annotations

from django.urls import path

from sample_app.shop import views

app_name = "shop"

urlpatterns = [
    path("products/", views.product_list, name="product-list"),
    path("products/n-plus-one/", views.product_list_n_plus_one, name="product-list-n-plus-one"),
    path("products/<int:pk>/", views.product_detail, name="product-detail"),
    path("categories/summary/", views.category_summary, name="category-summary"),
    path("slow/", views.slow, name="slow"),
    path("flaky/", views.flaky, name="flaky"),
    path("orders/", views.create_order, name="order-create"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("account/", views.account, name="account"),
]
