"""Connect a project to ``toolkit serve``: the ML backend for live pre-annotation, and a webhook so every
annotation reaches the backend's review store (what its retraining learns from).

Label Studio sends annotation events only to webhooks, so both are registered. Re-running is safe: a
backend or webhook already pointing at the same URL is kept, not duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.studio.client import Studio

WEBHOOK_ACTIONS = ["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"]


@dataclass
class Connection:
    project_id: int
    ml_backend_id: int
    webhook_id: int
    created: list[str]


def connect_backend(studio: Studio, project: str, url: str, *, title: str = "toolkit") -> Connection:
    """Register ``url`` (a running ``toolkit serve``) as ``project``'s ML backend and annotation webhook."""
    studio.check()
    project_id = studio.project_id(project)
    url = url.rstrip("/")
    created = []
    backends = studio.call("list ML backends", studio.sdk.ml.list, project=project_id)
    backend = next((b for b in backends if (b.url or "").rstrip("/") == url), None)
    if backend is None:
        backend = studio.call("add the ML backend", studio.sdk.ml.create, project=project_id, url=url, title=title,
                              is_interactive=True)
        created.append("ml backend")
    hook_url = f"{url}/webhook"
    hooks = studio.call("list webhooks", studio.sdk.webhooks.list, project=str(project_id))
    hook = next((h for h in hooks if h.url == hook_url), None)
    if hook is None:
        hook = studio.call("add the webhook", studio.sdk.webhooks.create, project=project_id, url=hook_url,
                           send_payload=True, send_for_all_actions=False, actions=WEBHOOK_ACTIONS, is_active=True)
        created.append("webhook")
    return Connection(project_id, backend.id, hook.id, created)
