pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.db",
    "tests.fixtures.redis",
    "tests.fixtures.app",
    "tests.fixtures.processes",
    "tests.fixtures.auth",
    "tests.fixtures.systems",
    "tests.fixtures.sshd",
    "tests.fixtures.winrm",
    "tests.fixtures.engine",
]
