#!/usr/bin/env python3
"""Generates the simulated document camera's JPEG fixtures: synthetic pages, no real documents.
Dev-time only (needs Pillow: pip install pillow); the output is committed."""
import random
from PIL import Image, ImageDraw, ImageFont

random.seed(7)
font = ImageFont.load_default(size=28) if hasattr(ImageFont, "load_default") else None
for n in range(1, 4):
    img = Image.new("L", (1240, 1754), 245)
    d = ImageDraw.Draw(img)
    d.rectangle([60, 60, 1180, 1694], outline=40, width=4)
    d.text((100, 100), f"SAMPLE MATERIAL {n} - SYNTHETIC TEST PAGE", fill=20, font=font)
    d.text((100, 150), "NOT A REAL DOCUMENT. NAME: TEST PERSON. FOR DEMO USE ONLY", fill=20, font=font)
    y = 240
    while y < 1600:
        x = 100
        while x < 1100:
            w = random.randint(30, 140)
            d.rectangle([x, y, min(x + w, 1140), y + 14], fill=random.randint(30, 90))
            x += w + random.randint(12, 30)
        y += 42
    img.save(f"kiosk-config/fixtures/camera/page-{n}.jpg", quality=70, optimize=True)
    print("wrote", n)
