"""realip_toa is the lower layer: importing any of its modules loads no ``realip`` module (no import circle), and
realip's adapters turn its configuration error into a ``realip.ConfigError`` that names their own setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
LOW_LAYER = sorted(
    f"realip_toa.{path.stem}"
    for path in (REPO / "realip_toa").glob("*.py")
    if path.stem not in ("__init__", "uvicorn_hooks", "gunicorn_hooks", "hypercorn_hooks")  # server imports
)


@pytest.mark.parametrize("module", ["realip_toa", *LOW_LAYER, "realip_toa.uvicorn_hooks", "realip_toa.gunicorn_hooks"])
def test_importing_realip_toa_loads_no_realip_module(module: str) -> None:
    code = f"import sys, {module}\nprint(sorted(m for m in sys.modules if m == 'realip' or m.startswith('realip.')))\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALIP_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"{module} imported {out.stdout.strip()}"


def test_the_toa_error_becomes_a_config_error_naming_the_setting() -> None:
    from realip import ConfigError, Resolver
    from realip.layer4 import layer4_source
    from realip_toa import TOAConfigError

    resolver = Resolver(layer4_proxies=["100.64.0.0/10"])
    assert not issubclass(TOAConfigError, ConfigError)
    with pytest.raises(ConfigError, match=r"^layer4='toa:often': expected one of proxy-protocol, toa:capture") as error:
        layer4_source("toa:often", resolver, from_env=False)
    assert error.value.option == "layer4"
    with pytest.raises(ConfigError, match=r"^REALIP_LAYER4='toa:sometimes': TOA mode 'sometimes'|expected one of"):
        layer4_source(None, resolver, from_env=True, environ={"REALIP_LAYER4": "toa:sometimes"})
    with pytest.raises(ConfigError, match=r"^REALIP_LAYER4='toa:capture': REALIP_TOA_PORTS entry 'x'"):
        layer4_source(None, resolver, from_env=True, environ={"REALIP_LAYER4": "toa:capture", "REALIP_TOA_PORTS": "x"})
    with pytest.raises(ConfigError, match=r"^layer4='proxy-protocol' needs layer4_proxies") as error:
        layer4_source("proxy-protocol", Resolver(), from_env=False)
    assert error.value.option == "layer4_proxies"
