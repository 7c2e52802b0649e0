from claims_api.models import metadata
from migrations.env import run

run(metadata)
