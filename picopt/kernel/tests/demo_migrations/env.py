from picopt.kernel.db import run_alembic_env
from picopt.kernel.tests.demo_models import DemoBase

run_alembic_env(DemoBase.metadata)
