from picopt.kernel.db import run_alembic_env
from services.retention.models import Base

run_alembic_env(Base.metadata)
