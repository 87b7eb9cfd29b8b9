"""Photos made in memory for the media tests: real encoders, real metadata, crafted headers."""

import io
import struct
import zlib

from PIL import ExifTags, Image, ImageCms, PngImagePlugin

import poche_api.media.images  # noqa: F401 - registers the HEIF plugin used below

LATITUDE = (49.0, 26.0, 30.0)
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="49,26.5N"/>'
    b"</rdf:RDF></x:xmpmeta>"
)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
# What a WebP file holds when it carries pixels only.
PIXEL_CHUNKS = {"VP8 ", "VP8L", "VP8X", "ALPH"}


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Phone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (1.0, 5.0, 45.0)
    return exif


def encode(
    image: Image.Image, fmt: str, *, exif: Image.Exif | None = None, **options: object
) -> bytes:
    buffer = io.BytesIO()
    if exif is not None:
        options["exif"] = exif.tobytes() if fmt == "HEIF" else exif
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(
    fmt: str = "JPEG",
    size: tuple[int, int] = (640, 480),
    *,
    orientation: int = 1,
    color: tuple[int, int, int] = (200, 40, 40),
) -> bytes:
    """A photo as a phone sends it: EXIF with GPS, XMP and an ICC profile."""
    metadata: dict[str, object] = {"icc_profile": SRGB_ICC}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        metadata["pnginfo"] = info
    else:
        metadata["xmp"] = XMP
    image = Image.new("RGB", size, color)
    return encode(image, fmt, exif=exif_with_gps(orientation), **metadata)


def two_halves(size: tuple[int, int], *, orientation: int) -> bytes:
    """Left half red, right half blue, as a sensor stores it before the EXIF rotation."""
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    return encode(image, "JPEG", exif=exif_with_gps(orientation), quality=95)


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header announcing width x height RGB pixels, followed by almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def webp_chunks(data: bytes) -> list[str]:
    """The RIFF chunk names of a WebP file, in order."""
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WEBP"
    names, offset = [], 12
    while offset + 8 <= len(data):
        name, size = (
            data[offset : offset + 4],
            struct.unpack("<I", data[offset + 4 : offset + 8])[0],
        )
        names.append(name.decode("latin-1"))
        offset += 8 + size + (size & 1)
    return names


def webp_with_canvas(width: int, height: int) -> bytes:
    """A small animated WebP whose header announces a width x height canvas."""
    frames = [Image.new("RGB", (16, 16), color) for color in ((0, 0, 0), (255, 0, 0))]
    data = bytearray(encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]))
    at = data.find(b"VP8X") + 8 + 4  # past the chunk header and the flags
    data[at : at + 3] = (width - 1).to_bytes(3, "little")
    data[at + 3 : at + 6] = (height - 1).to_bytes(3, "little")
    return bytes(data)
