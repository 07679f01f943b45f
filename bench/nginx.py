"""nginx as the reference relay: a generated one-worker WebSocket reverse-proxy config."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

_TEMPLATE = """\
daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
        }}
    }}
}}
"""


def render_config(root: Path, port: int, upstream_port: int) -> str:
    """The nginx.conf text for a proxy on ``port`` in front of ``upstream_port``."""
    return _TEMPLATE.format(root=root, port=port, upstream_port=upstream_port)


def nginx_binary() -> str:
    """Path of nginx, installing Debian's ``nginx-light`` first when it is missing."""
    found = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx")
    if found:
        return str(found)
    print("bench: nginx not found; installing Debian's nginx-light (apt-get) as the reference relay",
          file=sys.stderr, flush=True)
    for command in (["apt-get", "install", "-y", "-q", "nginx-light"], ["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "nginx-light"]):
        if subprocess.run(command, stdout=subprocess.DEVNULL, check=False).returncode == 0 and \
                (found := shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx")):
            return str(found)
    raise RuntimeError("nginx is not installed and apt-get could not install nginx-light; "
                       "install it (apt-get install nginx-light) or run with --no-nginx")


def write_config(root: Path, port: int, upstream_port: int) -> Path:
    """Write the config and its temp directories under ``root``."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(render_config(root, port, upstream_port))
    return conf
