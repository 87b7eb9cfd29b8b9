"""The BAN simulator's address set: a few hundred Rouen-area addresses, generated deterministically.

Each street is a short straight segment: a start point (given for the centre of Rouen, placed
around the town hall elsewhere) and a bearing. House numbers run along it every ~14 m, odd on
one side and even on the other, and only those inside the commune's polygon (the bundled
territory file) are kept. Identifiers follow BAN's shape (``76540_3520_00012``), positions come
with Lambert-93 ``x``/``y`` as BAN gives them, and the postcode of Rouen depends on the bank of
the Seine (76000 right bank, 76100 left bank). Barentin, just outside the Métropole, stands for
the neighbouring communes a real BAN search also returns.
"""

import hashlib
import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import orjson

from poche_api.kit.geo import MultiPolygon, in_multipolygon
from poche_api.kit.text import normalize
from poche_api.territory.loader import bundled_geojson

Kind = Literal["housenumber", "street", "municipality"]
CONTEXT = "76, Seine-Maritime, Normandie"
NUMBER_SPACING_M = 14.0
SIDE_OFFSET_M = 8.0
METRES_PER_DEGREE_LAT = 111_320.0

# (street name, (lat, lon, bearing in degrees) or None to place it around the town hall)
Street = tuple[str, tuple[float, float, float] | None]


@dataclass(frozen=True)
class CommuneStreets:
    citycode: str
    city: str  # as BAN spells it (with the article the territory file drops)
    postcode: str
    numbers: int  # house numbers per street (before the polygon check)
    streets: tuple[Street, ...]
    # Only for a commune outside the Métropole (no polygon in the territory file): BAN answers
    # for all of France, so a search near Rouen also finds the neighbours.
    town_hall: tuple[float, float] | None = None


COMMUNES: tuple[CommuneStreets, ...] = (
    CommuneStreets("76540", "Rouen", "76000", 14, (
        ("Rue Jeanne d'Arc", (49.4478, 1.0935, 200.0)),
        ("Rue du Gros-Horloge", (49.4413, 1.0893, 100.0)),
        ("Rue de la République", (49.4385, 1.0965, 15.0)),
        ("Place du Vieux-Marché", (49.4428, 1.0872, 120.0)),
        ("Rue Beauvoisine", (49.4428, 1.0958, 12.0)),
        ("Rue Eau-de-Robec", (49.4418, 1.0998, 80.0)),
        ("Rue Martainville", (49.4403, 1.0990, 85.0)),
        ("Rue Saint-Romain", (49.4407, 1.0950, 75.0)),
        ("Rue Ganterie", (49.4432, 1.0945, 80.0)),
        ("Rue du Général Leclerc", (49.4392, 1.0925, 80.0)),
        ("Rue de Crosne", (49.4430, 1.0862, 275.0)),
        ("Rue Jean Lecanuet", (49.4438, 1.0905, 90.0)),
        ("Rue Verte", (49.4492, 1.0928, 20.0)),
        ("Boulevard des Belges", (49.4445, 1.0830, 35.0)),
        ("Boulevard de l'Yser", (49.4475, 1.0985, 80.0)),
        ("Quai de la Bourse", (49.4392, 1.0885, 100.0)),
        ("Rue Saint-Sever", (49.4352, 1.0880, 190.0)),
        ("Avenue de Bretagne", (49.4318, 1.0870, 195.0)),
        ("Rue Lafayette", (49.4365, 1.0905, 120.0)),
        ("Place des Emmurées", (49.4340, 1.0905, 90.0)),
        ("Rue d'Elbeuf", (49.4300, 1.0925, 170.0)),
    )),
    CommuneStreets("76681", "Sotteville-lès-Rouen", "76300", 10, (
        ("Rue de Paris", None),
        ("Rue Garibaldi", None),
        ("Avenue Jean Jaurès", None),
        ("Rue Léon Salva", None),
        ("Place de l'Hôtel de Ville", None),
        ("Rue Victor Hugo", None),
        ("Rue Pierre Brossolette", None),
        ("Rue de la Marne", None),
    )),
    CommuneStreets("76498", "Le Petit-Quevilly", "76140", 10, (
        ("Avenue Jean Jaurès", None),
        ("Rue Pierre Mendès France", None),
        ("Rue Jules Ferry", None),
        ("Place Henri Barbusse", None),
        ("Rue Gambetta", None),
        ("Rue de l'Église", None),
        ("Rue Lafayette", None),
    )),
    CommuneStreets("76451", "Mont-Saint-Aignan", "76130", 10, (
        ("Rue Louis Pasteur", None),
        ("Rue du Village", None),
        ("Chemin de Clères", None),
        ("Rue Aristide Briand", None),
        ("Rue Jean Moulin", None),
        ("Place Colbert", None),
        ("Rue de l'Église", None),
    )),
    CommuneStreets("76322", "Le Grand-Quevilly", "76120", 10, (
        ("Avenue des Provinces", None),
        ("Rue Georges Clemenceau", None),
        ("Avenue Georges Braque", None),
        ("Rue de l'Industrie", None),
        ("Allée des Tilleuls", None),
        ("Rue de la République", None),
        ("Avenue Léon Blum", None),
    )),
    CommuneStreets("76575", "Saint-Étienne-du-Rouvray", "76800", 10, (
        ("Avenue Olivier Goubert", None),
        ("Rue de Paris", None),
        ("Place de la Fraternité", None),
        ("Rue du Madrillet", None),
        ("Rue Denis Papin", None),
        ("Rue Lazare Carnot", None),
    )),
    CommuneStreets("76231", "Elbeuf", "76500", 10, (
        ("Rue de la République", None),
        ("Cours Carnot", None),
        ("Rue Henry", None),
        ("Place Aristide Briand", None),
        ("Rue des Martyrs", None),
        ("Rue Guynemer", None),
    )),
    CommuneStreets("76108", "Bois-Guillaume", "76230", 8, (
        ("Route de Neufchâtel", None),
        ("Rue Herbeuse", None),
        ("Place de la Libération", None),
        ("Rue de la Haie", None),
        ("Rue Jean Lagarrigue", None),
    )),
    CommuneStreets("76212", "Darnétal", "76160", 8, (
        ("Rue de Longpaon", None),
        ("Place du Général de Gaulle", None),
        ("Rue Sadi Carnot", None),
        ("Rue Émile Zola", None),
    )),
    CommuneStreets("76157", "Canteleu", "76380", 8, (
        ("Route de Duclair", None),
        ("Rue Charles de Gaulle", None),
        ("Place Jean Jaurès", None),
        ("Rue de la Chapelle", None),
    )),
    CommuneStreets("76057", "Barentin", "76360", 8, (
        ("Rue de la République", (49.5452, 0.9525, 40.0)),
        ("Rue Pasteur", (49.5470, 0.9560, 120.0)),
    ), town_hall=(49.5453, 0.9547)),
)  # fmt: skip

# The Seine through Rouen, west to east, as (lon, lat): south of it is the left bank (76100).
SEINE_IN_ROUEN = ((1.03, 49.457), (1.06, 49.447), (1.08, 49.4405), (1.10, 49.4365), (1.14, 49.428))


@dataclass(frozen=True, slots=True)
class SimAddress:
    id: str
    kind: Kind
    label: str
    name: str
    housenumber: str | None
    street: str | None
    postcode: str
    citycode: str
    city: str
    lat: float
    lon: float
    x: float
    y: float
    importance: float
    tokens: tuple[str, ...]

    def properties(self, **extra: Any) -> dict[str, Any]:
        """BAN's feature properties; empty fields are left out, as addok does."""
        props: dict[str, Any] = {
            "label": self.label,
            "score": extra.pop("score", 1.0),
            "housenumber": self.housenumber,
            "id": self.id,
            "type": self.kind,
            "name": self.name,
            "postcode": self.postcode,
            "citycode": self.citycode,
            "x": self.x,
            "y": self.y,
            "city": self.city,
            "context": CONTEXT,
            "importance": self.importance,
            "street": self.street,
            **extra,
        }
        return {key: value for key, value in props.items() if value is not None}


def lambert93(lat: float, lon: float) -> tuple[float, float]:
    """WGS 84 → Lambert-93 (EPSG:2154), the ``x``/``y`` BAN returns, to the centimetre."""
    a, e = 6_378_137.0, 0.0818191910428158
    phi0, phi1, phi2, lambda0 = map(math.radians, (46.5, 49.0, 44.0, 3.0))

    def m(phi: float) -> float:
        return math.cos(phi) / math.sqrt(1 - (e * math.sin(phi)) ** 2)

    def t(phi: float) -> float:
        ratio = (1 - e * math.sin(phi)) / (1 + e * math.sin(phi))
        return math.tan(math.pi / 4 - phi / 2) / math.pow(ratio, e / 2)

    n = (math.log(m(phi1)) - math.log(m(phi2))) / (math.log(t(phi1)) - math.log(t(phi2)))
    f = m(phi1) / (n * math.pow(t(phi1), n))
    rho0 = a * f * math.pow(t(phi0), n)
    rho = a * f * math.pow(t(math.radians(lat)), n)
    theta = n * (math.radians(lon) - lambda0)
    return round(700_000 + rho * math.sin(theta), 2), round(
        6_600_000 + rho0 - rho * math.cos(theta), 2
    )


def _unit(seed: str) -> float:
    """A stable number in [0, 1) derived from ``seed``."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2**64


def _move(lat: float, lon: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    bearing = math.radians(bearing_deg)
    dlat = metres * math.cos(bearing) / METRES_PER_DEGREE_LAT
    dlon = metres * math.sin(bearing) / (METRES_PER_DEGREE_LAT * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def _rouen_postcode(lat: float, lon: float) -> str:
    for (lon_a, lat_a), (lon_b, lat_b) in itertools.pairwise(SEINE_IN_ROUEN):
        if lon_a <= lon <= lon_b:
            river = lat_a + (lat_b - lat_a) * (lon - lon_a) / (lon_b - lon_a)
            return "76100" if lat < river else "76000"
    return "76000"


@dataclass(frozen=True)
class _Commune:
    boundary: MultiPolygon | None  # None outside the Métropole: points are not checked
    town_hall: tuple[float, float]  # lat, lon

    def contains(self, lat: float, lon: float) -> bool:
        return self.boundary is None or in_multipolygon(lon, lat, self.boundary)


def _communes() -> dict[str, _Commune]:
    found = {}
    for feature in orjson.loads(bundled_geojson())["features"]:
        props, geometry = feature["properties"], feature["geometry"]
        boundary = (
            [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        )
        lon, lat = props["town_hall"]["location"]
        found[props["insee"]] = _Commune(boundary, (lat, lon))
    return found


def _street_start(
    commune: _Commune, key: str, given: tuple[float, float, float] | None
) -> tuple[float, float, float]:
    if given is not None:
        return given
    for attempt in range(50):  # a point within ~700 m of the town hall, inside the commune
        distance = 150 + 550 * _unit(f"{key}:d:{attempt}")
        lat, lon = _move(*commune.town_hall, 360 * _unit(f"{key}:b:{attempt}"), distance)
        if commune.contains(lat, lon):
            return lat, lon, 360 * _unit(f"{key}:heading")
    return (*commune.town_hall, 360 * _unit(f"{key}:heading"))


def _entry(
    *,
    id: str,
    kind: Kind,
    name: str,
    housenumber: str | None,
    street: str | None,
    postcode: str,
    citycode: str,
    city: str,
    lat: float,
    lon: float,
    importance: float,
) -> SimAddress:
    lat, lon = round(lat, 6), round(lon, 6)
    x, y = lambert93(lat, lon)
    label = f"{name} {postcode} {city}" if kind != "municipality" else city
    return SimAddress(
        id=id,
        kind=kind,
        label=label,
        name=name,
        housenumber=housenumber,
        street=street,
        postcode=postcode,
        citycode=citycode,
        city=city,
        lat=lat,
        lon=lon,
        x=x,
        y=y,
        importance=importance,
        tokens=tuple(normalize(label).split()),
    )


def _street_entries(commune: _Commune, spec: CommuneStreets, street: Street) -> list[SimAddress]:
    name, given = street
    key = f"{spec.citycode}:{name}"
    code = f"{1000 + int(_unit(key) * 8999):04d}"
    lat0, lon0, bearing = _street_start(commune, key, given)
    length = NUMBER_SPACING_M * (spec.numbers // 2 + 1)
    mid_lat, mid_lon = _move(lat0, lon0, bearing, length / 2)

    def postcode(lat: float, lon: float) -> str:
        return _rouen_postcode(lat, lon) if spec.citycode == "76540" else spec.postcode

    importance = round(0.45 + 0.2 * _unit(f"{key}:importance"), 5)
    entries = [
        _entry(
            id=f"{spec.citycode}_{code}",
            kind="street",
            name=name,
            housenumber=None,
            street=name,
            postcode=postcode(mid_lat, mid_lon),
            citycode=spec.citycode,
            city=spec.city,
            lat=mid_lat,
            lon=mid_lon,
            importance=importance,
        )
    ]
    for number in range(1, spec.numbers + 1):
        along = NUMBER_SPACING_M * ((number + 1) // 2)
        side = 90 if number % 2 else -90
        lat, lon = _move(*_move(lat0, lon0, bearing, along), bearing + side, SIDE_OFFSET_M)
        if not commune.contains(lat, lon):
            continue
        entries.append(
            _entry(
                id=f"{spec.citycode}_{code}_{number:05d}",
                kind="housenumber",
                name=f"{number} {name}",
                housenumber=str(number),
                street=name,
                postcode=postcode(lat, lon),
                citycode=spec.citycode,
                city=spec.city,
                lat=lat,
                lon=lon,
                importance=importance,
            )
        )
    return entries


@lru_cache(maxsize=1)
def addresses() -> tuple[SimAddress, ...]:
    """Every entry: one municipality per commune, its streets, and their house numbers."""
    communes = _communes()
    entries: list[SimAddress] = []
    for spec in COMMUNES:
        commune = communes.get(spec.citycode) or _Commune(None, spec.town_hall or (0.0, 0.0))
        entries.append(
            _entry(
                id=spec.citycode,
                kind="municipality",
                name=spec.city,
                housenumber=None,
                street=None,
                postcode=spec.postcode,
                citycode=spec.citycode,
                city=spec.city,
                lat=commune.town_hall[0],
                lon=commune.town_hall[1],
                importance=0.6,
            )
        )
        for street in spec.streets:
            entries.extend(_street_entries(commune, spec, street))
    return tuple(entries)
