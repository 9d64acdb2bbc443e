"""Makes the real-service fixtures available here even before tests/conftest.py loads the plugin.

Once the root conftest lists ``tests.realservices`` in ``pytest_plugins`` (or pytest runs with
``-p tests.realservices``), the module is already imported and this file adds nothing.
"""

import sys

if "tests.realservices" not in sys.modules:
    from tests.realservices import (  # noqa: F401  (fixtures and hooks, registered by name)
        kafka_bootstrap,
        opensearch_secure_url,
        opensearch_url,
        pytest_collection_finish,
        pytest_sessionfinish,
        pytest_terminal_summary,
        s3_endpoint,
    )
