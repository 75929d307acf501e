"""``seed``: fill the shop with a deterministic catalogue, reviews and a demo user. Idempotent.

Running it again adds only what is missing, so the demo and the tests can call it every time.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils.text import slugify

from sample_app.shop.demo_user import DEMO_USERNAME, demo_password
from sample_app.shop.models import Category, Product, Review

CATEGORIES = (
    "Books",
    "Coffee",
    "Garden",
    "Kitchen",
    "Music",
    "Outdoor",
    "Stationery",
    "Toys",
)
ADJECTIVES = (
    "Classic",
    "Compact",
    "Deluxe",
    "Everyday",
    "Handmade",
    "Heavy-duty",
    "Little",
    "Organic",
    "Portable",
    "Quiet",
    "Rustic",
    "Smart",
    "Sturdy",
    "Vintage",
    "Wooden",
)
NOUNS = {
    "Books": ("novel", "atlas", "cookbook", "field guide", "anthology"),
    "Coffee": ("grinder", "espresso blend", "pour-over kit", "mug", "filter pack"),
    "Garden": ("trowel", "planter", "hose reel", "seed kit", "pruner"),
    "Kitchen": ("skillet", "knife", "cutting board", "kettle", "spice rack"),
    "Music": ("ukulele", "metronome", "songbook", "capo", "headphones"),
    "Outdoor": ("tent", "lantern", "backpack", "water bottle", "hammock"),
    "Stationery": ("notebook", "fountain pen", "planner", "sketchbook", "ink set"),
    "Toys": ("puzzle", "kite", "train set", "building blocks", "board game"),
}
REVIEWERS = ("ada", "grace", "linus", "guido", "margaret", "ken", "barbara", "dennis")
REVIEW_LINES = {
    1: "Broke after a week.",
    2: "Not what I expected.",
    3: "Does the job.",
    4: "Good value, would buy again.",
    5: "Excellent, exactly as described.",
}


class Command(BaseCommand):
    help = "Create the sample catalogue, reviews and the demo user (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products-per-category", type=int, default=25, metavar="N")
        parser.add_argument("--no-demo-user", action="store_true", help="do not create the demo user")

    def handle(self, *args: Any, **options: Any) -> None:
        per_category = max(1, min(len(ADJECTIVES) * 5, options["products_per_category"]))
        with transaction.atomic():
            categories = self._categories()
            created_products = self._products(categories, per_category)
            created_reviews = self._reviews()
            user_created = False if options["no_demo_user"] else self._demo_user()
        self.stdout.write(
            f"seed: {len(categories)} categories, {created_products} new products, "
            f"{created_reviews} new reviews, demo user {'created' if user_created else 'present'}"
        )

    def _categories(self) -> list[Category]:
        result = []
        for name in CATEGORIES:
            category, _ = Category.objects.get_or_create(slug=slugify(name), defaults={"name": name})
            result.append(category)
        return result

    def _products(self, categories: list[Category], per_category: int) -> int:
        existing = set(Product.objects.values_list("slug", flat=True))
        new: list[Product] = []
        for category in categories:
            nouns = NOUNS[category.name]
            for index in range(per_category):
                adjective = ADJECTIVES[index % len(ADJECTIVES)]
                noun = nouns[index // len(ADJECTIVES) % len(nouns)]
                name = f"{adjective} {noun}"
                slug = slugify(f"{category.slug}-{name}-{index}")
                if slug in existing:
                    continue
                rng = random.Random(slug)
                new.append(
                    Product(
                        category=category,
                        name=name.capitalize() if name[0].islower() else name,
                        slug=slug,
                        description=f"A {name.lower()} from our {category.name.lower()} range.",
                        price=Decimal(rng.randrange(299, 19_999)) / 100,
                        stock=rng.randrange(20, 1_500),
                    )
                )
        Product.objects.bulk_create(new)
        return len(new)

    def _reviews(self) -> int:
        new: list[Review] = []
        for product in Product.objects.filter(reviews__isnull=True).only("id", "slug"):
            rng = random.Random(f"reviews-{product.slug}")
            for _ in range(rng.randrange(0, 7)):
                rating = rng.choice((1, 2, 3, 4, 4, 5, 5, 5))
                author = rng.choice(REVIEWERS)
                new.append(Review(product=product, author=author, rating=rating, body=REVIEW_LINES[rating]))
        Review.objects.bulk_create(new)
        return len(new)

    def _demo_user(self) -> bool:
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=DEMO_USERNAME)
        if created:
            user.set_password(demo_password())
            user.save(update_fields=["password"])
        return created
