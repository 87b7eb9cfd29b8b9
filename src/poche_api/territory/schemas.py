from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH_POINTS = 100


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Point(Schema):
    lat: float = Field(description="Latitude (WGS 84)")
    lon: float = Field(description="Longitude (WGS 84)")


class TownHall(Schema):
    address: str | None = Field(None, description="Postal address of the town hall")
    phone: str | None = Field(None, description="Phone number")
    email: str | None = Field(None, description="Contact e-mail")
    website: str | None = Field(None, description="Web site")
    location: Point | None = Field(None, description="Where the town hall is")


class CommuneSummary(Schema):
    insee: str = Field(description="INSEE code", examples=["76540"])
    name: str = Field(description="Official name", examples=["Rouen"])
    postal_codes: list[str] = Field(description="Postal codes serving the commune")
    population: int = Field(description="Municipal population (INSEE)")
    centroid: Point = Field(description="Centre of the commune's area")


class Commune(CommuneSummary):
    town_hall: TownHall = Field(description="Town hall contact")
    bbox: list[float] = Field(description="[min_lon, min_lat, max_lon, max_lat]")


class CommuneList(Schema):
    items: list[CommuneSummary] = Field(description="All communes, by name")
    count: int = Field(description="How many communes")
    attribution: str = Field(description="Data licence and sources")


class LocatedPoint(Schema):
    inside_metropole: bool = Field(description="Whether the point lies in the Métropole")
    commune: CommuneSummary | None = Field(description="The commune containing the point")


class Coordinates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, description="Latitude (WGS 84)")
    lon: float = Field(ge=-180, le=180, description="Longitude (WGS 84)")


class LocateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: list[Coordinates] = Field(
        min_length=1, max_length=MAX_BATCH_POINTS, description="Up to 100 points to resolve"
    )


class LocateResults(Schema):
    results: list[LocatedPoint] = Field(description="One answer per point, in request order")
