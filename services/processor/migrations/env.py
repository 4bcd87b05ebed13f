from picopt.kernel.db import run_alembic_env
from services.processor.models import Base

run_alembic_env(Base.metadata)
