"""Tag → class: which identifying class a tag, property, dataset or atom name belongs to.

The tables name tags; values are never looked at except where a video muxer's
generic default (handler 'VideoHandler', language 'und') must be told from a real one.
"""

from __future__ import annotations

import re

# Checked in this order; the first class whose pattern matches the squeezed,
# lower-cased name wins (so 'CameraOwnerName' is a serial before it is a device).
_NAME_PATTERNS = {
    "gps": r"gps|latitude|longitude|altitude|iso6709|coordinates|geotag|geolocation|©xyz",
    "serial": r"serial|uniqueid|imageuid|uuid|documentid|instanceid|derivedfrom|owner|bodynumber"
              r"|identifier|deviceid|cameraid|burstid|mediauid",
    "owner": r"artist|author|creator(?!tool)|byline|copyright|rights|credit|contact|writer"
             r"|photographer|publisher|^source$|personinimage",
    "device": r"^make$|\.make$|model|lens|software|creatortool|firmware|hostcomputer"
              r"|manufacturer|camera|^device|android|originatingprogram|programversion",
    "datetime": r"date|timestamp|timecreated|createtime|modifytime|offsettime|subsectime"
                r"|creationtime|^when$|timecode",
    "location": r"city|country|province|state$|sublocation|location|worldregion|placename"
                r"|landmark|address",
    "comment": r"comment|description|caption|abstract|title|headline|keyword|subject"
               r"|instructions|label|notes|objectname|event|categor|^text$",
}
_NAME_RULES = [(cls, re.compile(pattern)) for cls, pattern in _NAME_PATTERNS.items()]


def classify_name(name: str) -> str | None:
    """Class of a free-form tag name (XMP property, IPTC dataset, PNG keyword, video tag)."""
    key = re.sub(r"[\s_\-]", "", name.lower())
    for cls, rule in _NAME_RULES:
        if rule.search(key):
            return cls
    return None


# EXIF/TIFF tag ids as published in the EXIF 2.32 and TIFF 6 specifications.
TIFF_TAGS: dict[int, tuple[str, str]] = {
    0x010F: ("device", "Make"), 0x0110: ("device", "Model"), 0x0131: ("device", "Software"),
    0x013C: ("device", "HostComputer"), 0xA433: ("device", "LensMake"),
    0xA434: ("device", "LensModel"),
    0xA432: ("device", "LensSpecification"), 0xC614: ("device", "UniqueCameraModel"),
    0xC615: ("device", "LocalizedCameraModel"), 0x000B: ("device", "ProcessingSoftware"),
    0x0132: ("datetime", "DateTime"), 0x9003: ("datetime", "DateTimeOriginal"),
    0x9004: ("datetime", "DateTimeDigitized"), 0x9010: ("datetime", "OffsetTime"),
    0x9011: ("datetime", "OffsetTimeOriginal"), 0x9012: ("datetime", "OffsetTimeDigitized"),
    0x9290: ("datetime", "SubSecTime"), 0x9291: ("datetime", "SubSecTimeOriginal"),
    0x9292: ("datetime", "SubSecTimeDigitized"),
    0xA431: ("serial", "BodySerialNumber"), 0xA435: ("serial", "LensSerialNumber"),
    0xA420: ("serial", "ImageUniqueID"), 0xA430: ("serial", "CameraOwnerName"),
    0xC62F: ("serial", "CameraSerialNumber"),
    0x013B: ("owner", "Artist"), 0x8298: ("owner", "Copyright"), 0x9C9D: ("owner", "XPAuthor"),
    0x010E: ("comment", "ImageDescription"), 0x9286: ("comment", "UserComment"),
    0x9C9B: ("comment", "XPTitle"), 0x9C9C: ("comment", "XPComment"),
    0x9C9E: ("comment", "XPKeywords"), 0x9C9F: ("comment", "XPSubject"),
    0x010D: ("comment", "DocumentName"), 0x011D: ("comment", "PageName"),
    0x0112: ("orientation", "Orientation"), 0x927C: ("makernote", "MakerNote"),
    0x8773: ("icc_profile", "InterColorProfile"),
}
GPS_NAMES = (
    "GPSVersionID", "GPSLatitudeRef", "GPSLatitude", "GPSLongitudeRef", "GPSLongitude",
    "GPSAltitudeRef", "GPSAltitude", "GPSTimeStamp", "GPSSatellites", "GPSStatus", "GPSMeasureMode",
    "GPSDOP", "GPSSpeedRef", "GPSSpeed", "GPSTrackRef", "GPSTrack", "GPSImgDirectionRef",
    "GPSImgDirection", "GPSMapDatum", "GPSDestLatitudeRef", "GPSDestLatitude",
    "GPSDestLongitudeRef", "GPSDestLongitude", "GPSDestBearingRef", "GPSDestBearing",
    "GPSDestDistanceRef", "GPSDestDistance",
    "GPSProcessingMethod", "GPSAreaInformation", "GPSDateStamp", "GPSDifferential",
    "GPSHPositioningError",
)


def gps_name(tag: int) -> str:
    return GPS_NAMES[tag] if tag < len(GPS_NAMES) else f"GPS0x{tag:04X}"


# IPTC IIM record 2 datasets that can carry identity, place or time.
IPTC_NAMES = {
    5: "ObjectName", 15: "Category", 20: "SupplementalCategories", 25: "Keywords",
    40: "SpecialInstructions",
    55: "DateCreated", 60: "TimeCreated", 62: "DigitalCreationDate", 63: "DigitalCreationTime",
    65: "OriginatingProgram", 80: "By-line", 85: "By-lineTitle", 90: "City", 92: "Sub-location",
    95: "Province-State", 100: "Country-PrimaryLocationCode", 101: "Country-PrimaryLocationName",
    105: "Headline", 110: "Credit", 115: "Source", 116: "CopyrightNotice", 118: "Contact",
    120: "Caption-Abstract", 122: "Writer-Editor",
}

# QuickTime/MP4 user-data atoms (Apple, ISO 14496-12 and GoPro names).
UDTA_CLASS = {
    b"\xa9xyz": "gps", b"loci": "gps", b"\xa9mak": "device", b"\xa9mod": "device",
    b"\xa9swr": "device", b"\xa9too": "container_tags", b"\xa9enc": "container_tags",
    b"\xa9day": "datetime", b"FIRM": "device", b"LENS": "device", b"CAME": "serial",
    b"MUID": "serial", b"GUMI": "serial", b"BCID": "serial", b"GPMF": "serial", b"SETT": "device",
    b"HMMT": "chapters", b"chpl": "chapters", b"\xa9ART": "owner", b"\xa9aut": "owner",
    b"\xa9cpy": "owner", b"cprt": "owner", b"auth": "owner", b"perf": "owner",
    b"\xa9nam": "comment", b"\xa9cmt": "comment", b"\xa9des": "comment", b"titl": "comment",
    b"dscp": "comment", b"kywd": "comment", b"\xa9inf": "comment", b"clfn": "comment",
    b"covr": "embedded_image", b"thmb": "thumbnail", b"name": "container_tags",
}


def atom_class(typ: bytes, default: str) -> str:
    return UDTA_CLASS.get(typ) or classify_name(typ.decode("latin-1")) or default


# Demuxer-level tags that describe the container itself, not its source.
AV_STRUCTURAL = {"major_brand", "minor_version", "compatible_brands", "duration", "bps",
                 "number_of_frames", "number_of_bytes"}  # Matroska statistics count bytes only
# What PyAV/FFmpeg writes into an MP4 with fflags=+bitexact (checked by writing one):
# only the track language 'und', the generic handler names and an all-zero vendor id.
AV_STREAM_ALLOWED = {("language", "und"), ("handler_name", "VideoHandler"),
                     ("handler_name", "SoundHandler"), ("vendor_id", "[0][0][0][0]")}


def av_tag_class(key: str, value: str) -> str | None:
    """Class of a container/stream tag; None for tags that carry nothing about the source."""
    k = key.lower()
    if k in AV_STRUCTURAL or k == "language" or (key, value) in AV_STREAM_ALLOWED:
        return None
    if k.startswith("_statistics"):
        return None
    if "location" in k or "iso6709" in k or k.endswith("xyz"):
        return "gps"
    if k in ("handler_name", "encoder", "vendor_id", "encoded_by"):
        return "container_tags"
    return classify_name(key) or "container_tags"
