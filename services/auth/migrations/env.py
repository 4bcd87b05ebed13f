from picopt.kernel.db import run_alembic_env
from services.auth.models import Base

run_alembic_env(Base.metadata)
