"""Serve Horizon (openstack_dashboard with zun-ui) on 127.0.0.1 with waitress, one process.
Usage: serve.py PORT. The static files are served from STATIC_ROOT, where start-horizon.sh
collected and compressed them: with DEBUG off Django serves none itself."""

from __future__ import annotations

import os
import sys
from typing import Any

import waitress
from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.wsgi import get_wsgi_application
from django.http import Http404, HttpResponseNotFound
from django.views import static


class _CollectedStatic(StaticFilesHandler):  # type: ignore[misc] # Django ships no types
    """STATIC_URL from the collected STATIC_ROOT (where the compressed bundles are), not from
    the apps' own folders, with no DEBUG needed."""

    def serve(self, request: Any) -> Any:
        return static.serve(request, self.file_path(request.path),
                            document_root=settings.STATIC_ROOT)

    def get_response(self, request: Any) -> Any:
        # Django's 404 page needs Horizon's middleware, which static requests skip.
        try:
            return self.serve(request)
        except Http404:
            return HttpResponseNotFound()


def main() -> None:
    port = int(sys.argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openstack_dashboard.settings")
    application = _CollectedStatic(get_wsgi_application())
    waitress.serve(application, host="127.0.0.1", port=port, threads=8, ident="horizon")


if __name__ == "__main__":
    main()
