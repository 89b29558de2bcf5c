# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create Neutron's schema on sqlite from its models: ``python -m service_side.neutron_schema URL``.

``neutron-db-manage upgrade`` cannot run on sqlite (alembic cannot ALTER constraints there), so
the harness creates the tables from the models and then runs ``neutron-db-manage stamp heads``.
The data migrations do not run that way: the harness adds what they would seed (the default
security-group rules) through the API.
"""

import sys

import sqlalchemy
from neutron.db.migration.models import head  # imports every model


def main(url):
    engine = sqlalchemy.create_engine(url)
    head.model_base.BASEV2.metadata.create_all(engine)
    engine.dispose()
    print("%d tables" % len(head.model_base.BASEV2.metadata.tables))


if __name__ == "__main__":
    main(sys.argv[1])
