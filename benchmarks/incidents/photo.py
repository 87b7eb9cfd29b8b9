"""A synthetic phone photo: smooth shapes, mid-scale texture and sensor noise, EXIF with GPS.

Not a flat colour (which decodes and encodes unrealistically fast): at quality 90 it weighs about
what a phone JPEG of the same size does (a 4000×3000 one ~2.6 MB, a 2000×1500 one ~0.7 MB).
"""

import io
import random

from PIL import Image

EXIF_ORIENTATION, EXIF_MAKE, EXIF_MODEL, EXIF_GPS = 0x0112, 0x010F, 0x0110, 0x8825


def synthetic_photo(width: int, height: int, *, seed: int = 7) -> bytes:
    rnd = random.Random(seed)

    def random_image(w: int, h: int, low: int, high: int) -> Image.Image:
        image = Image.new("RGB", (w, h))
        image.putdata(
            [
                (rnd.randrange(low, high), rnd.randrange(low, high), rnd.randrange(low, high))
                for _ in range(w * h)
            ]
        )
        return image

    shapes = random_image(48, 36, 40, 220).resize((width, height), Image.Resampling.BICUBIC)
    texture = random_image(max(1, width // 8), max(1, height // 8), 0, 256).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    picture = Image.blend(shapes, texture, 0.25)
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    picture = Image.blend(picture, noise, 0.12)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 1
    exif[EXIF_MAKE] = "Phone"
    exif[EXIF_MODEL] = "Benchmark 12"
    # Where the photo was taken: exactly what the server must strip.
    exif[EXIF_GPS] = {1: "N", 2: (49.0, 26.0, 35.0), 3: "E", 4: (1.0, 5.0, 57.0)}
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()
