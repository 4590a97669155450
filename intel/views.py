"""Browser pages of the intel app: IOCs, imports, sources (health), sweeps (launch, live
progress, results), hits, reputation look-up, the allowlist and the ad-hoc search.
Thin: parse, authorise, call a selector or a service. Progress bars poll a partial with
htmx (`hx-trigger="every 1s"`) and stop once the job is finished."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from endpoints.selectors import endpoint_filter_choices
from tenancy import roles
from tenancy.api.fields import MAX_ID
from tenancy.permissions import role_required
from tenancy.redirects import safe_next

from . import selectors, services
from .forms import (
    AllowlistForm,
    ImportForm,
    IOCEditForm,
    IOCFilterForm,
    IOCForm,
    LookupForm,
    SearchForm,
    SourceForm,
    SweepForm,
)
from .models import IOC, AllowlistEntry, ImportJob, Reputation, Source, Sweep

WRITERS = roles.WRITERS - {roles.AUDITOR}


def _url(request, name: str, **kwargs) -> str:
    return reverse(f"intel:{name}", kwargs={"tenant_slug": request.tenant.slug, **kwargs})


def _errors(form, exc: ValidationError) -> None:
    for field, problems in exc.message_dict.items():
        target = field if field in form.fields else None
        for problem in problems:
            form.add_error(target, problem)


# --- IOCs --------------------------------------------------------------------------------
def ioc_list(request):
    form = IOCFilterForm(request.GET or None)
    queryset = selectors.iocs()
    if form.is_valid():
        data = form.cleaned_data
        if data["search"]:
            queryset = queryset.filter(
                Q(value__icontains=data["search"]) | Q(description__icontains=data["search"])
            )
        if data["type"]:
            queryset = queryset.filter(type=data["type"])
        if data["source"]:
            queryset = queryset.filter(source_links__source=data["source"]).distinct()
        if data["tag"]:
            queryset = queryset.filter(tags__name=data["tag"].strip().lower())
        state = data["state"]
        if state == "active":
            queryset = queryset.active()
        elif state == "expired":
            queryset = queryset.exclude(pk__in=IOC.objects.active().values("pk"))
        elif state == "suppressed":
            queryset = queryset.filter(suppressed=True)
        elif state == "seen":
            queryset = queryset.filter(sightings_count__gt=0)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(
        request, "intel/ioc_list.html", {"form": form, "page": page, "now": timezone.now()}
    )


@role_required(WRITERS)
def ioc_new(request):
    form = IOCForm(request.POST or None, initial={"type": request.GET.get("type", "sha256")})
    if request.method == "POST" and form.is_valid():
        try:
            ioc, created, warnings = services.ioc_create(**form.service_kwargs(), user=request.user)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            if warnings:
                lists = ", ".join(sorted({w["list"] for w in warnings}))
                state = "matched anyway" if not ioc.suppressed else "suppressed: it will not match"
                messages.warning(request, f"{ioc} is on a warning list ({lists}); {state}.")
            if created:
                messages.success(request, f"IOC {ioc} added; a retro-hunt sweep is looking for it.")
            else:
                messages.info(request, f"{ioc} was already known; this source now vouches for it.")
            return redirect(_url(request, "ioc-detail", pk=ioc.pk))
    return render(request, "intel/ioc_form.html", {"form": form})


@role_required(WRITERS)
def ioc_check(request):
    """htmx: the normalised value and its warnings while the analyst types (nothing saved)."""
    kind, raw = request.POST.get("type", ""), request.POST.get("value", "")
    context = {"value": None, "error": "", "warnings": []}
    if raw.strip():
        from .parsing import InvalidIOC, normalize_ioc
        from .parsing.yara_rules import compile_yara

        try:
            if kind == "yara":
                context["value"] = compile_yara(raw).source
            else:
                kind, context["value"] = normalize_ioc(kind, raw)
            context["warnings"] = services.ioc_screen(kind, context["value"])
        except InvalidIOC as exc:
            context["error"] = exc.message
    context["kind"] = kind
    return render(request, "intel/_ioc_check.html", context)


def ioc_detail(request, pk: int):
    ioc = get_object_or_404(selectors.iocs(), pk=pk)
    edit = IOCEditForm(
        initial={
            "confidence": ioc.confidence,
            "severity": ioc.severity,
            "tlp": ioc.tlp,
            "phase": ioc.phase,
            "tags": ", ".join(t.name for t in ioc.tags.all()),
            "valid_until": ioc.valid_until,
            "description": ioc.description,
        }
    )
    if request.method == "POST":
        if request.role not in WRITERS:
            return render(request, "403.html", status=403)
        edit = IOCEditForm(request.POST)
        if edit.is_valid():
            data = dict(edit.cleaned_data)
            tags = [t.strip() for t in data.pop("tags").split(",") if t.strip()]
            try:
                services.ioc_update(ioc=ioc, tags=tags, **data)
            except ValidationError as exc:
                _errors(edit, exc)
            else:
                messages.success(request, "IOC updated.")
                return redirect(_url(request, "ioc-detail", pk=ioc.pk))
    links = ioc.source_links.select_related("source").order_by("first_seen_at")
    return render(
        request,
        "intel/ioc_detail.html",
        {"ioc": ioc, "edit": edit, "links": links, "found": selectors.ioc_hits_by_endpoint(ioc)},
    )


@require_POST
@role_required(WRITERS)
def ioc_expire(request, pk: int):
    ioc = get_object_or_404(IOC, pk=pk)
    services.ioc_expire(ioc=ioc)
    messages.success(request, f"{ioc} expired: it no longer matches.")
    return redirect(_url(request, "ioc-detail", pk=ioc.pk))


@require_POST
@role_required(WRITERS)
def ioc_suppression(request, pk: int):
    ioc = get_object_or_404(IOC, pk=pk)
    services.ioc_set_suppressed(ioc=ioc, suppressed=request.POST.get("suppressed") == "1")
    return redirect(_url(request, "ioc-detail", pk=ioc.pk))


@require_POST
@role_required(WRITERS)
def ioc_bulk_expire(request):
    ids = [int(x) for x in request.POST.getlist("ioc") if x.isascii() and x.isdigit()]
    ids = [pk for pk in ids if pk <= MAX_ID]  # past 64 bits the database would raise
    count = services.ioc_expire_many(iocs=IOC.objects.filter(pk__in=ids))
    messages.success(request, f"{count} IOC(s) expired.")
    return redirect(safe_next(request, _url(request, "ioc-list")))


# --- imports -----------------------------------------------------------------------------
@role_required(WRITERS)
def import_new(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        content = upload.read()
        fmt = form.cleaned_data["format"] or services.guess_format(upload.name, content)
        try:
            job = services.import_create(
                data=content,
                format=fmt,
                source_name=form.cleaned_data["source"] or upload.name,
                filename=upload.name,
                options={"mapping": form.mapping()} if fmt == "csv" else {},
                user=request.user,
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            return redirect(_url(request, "import-detail", pk=job.pk))
    return render(
        request, "intel/import_form.html", {"form": form}, status=400 if form.errors else 200
    )


def import_list(request):
    page = Paginator(selectors.import_list(), 50).get_page(request.GET.get("page"))
    return render(request, "intel/import_list.html", {"page": page})


def import_detail(request, pk: int):
    job = get_object_or_404(selectors.imports(), pk=pk)
    return render(request, "intel/import_detail.html", {"job": job})


def import_progress(request, pk: int):
    job = get_object_or_404(selectors.imports(), pk=pk)
    return render(request, "intel/_import_progress.html", {"job": job})


# --- sources -----------------------------------------------------------------------------
def source_list(request):
    return render(request, "intel/source_list.html", {"sources": selectors.sources()})


def source_detail(request, pk: int):
    source = get_object_or_404(selectors.sources(), pk=pk)
    jobs = ImportJob.objects.filter(source=source).order_by("-created_at", "-id")[:20]
    return render(request, "intel/source_detail.html", {"source": source, "jobs": jobs})


def _source_form(request, source: Source | None):
    editing = source is not None
    initial = (
        {f: getattr(source, f) for f in SourceForm.base_fields if f != "password"}
        if editing
        else {}
    )
    form = SourceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if editing:
                source = services.source_update(source=source, **form.service_kwargs(editing=True))
            else:
                source = services.source_create(**form.service_kwargs(editing=False))
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"Source {source} saved.")
            return redirect(_url(request, "source-detail", pk=source.pk))
    return render(request, "intel/source_form.html", {"form": form, "source": source})


@role_required(roles.LEADS)
def source_new(request):
    return _source_form(request, None)


@role_required(roles.LEADS)
def source_edit(request, pk: int):
    return _source_form(request, get_object_or_404(Source, pk=pk))


@require_POST
@role_required(roles.LEADS)
def source_poll(request, pk: int):
    source = get_object_or_404(Source, pk=pk)
    try:
        job = services.taxii_poll_create(source=source, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(_url(request, "source-detail", pk=source.pk))
    return redirect(_url(request, "import-detail", pk=job.pk))


# --- sweeps ------------------------------------------------------------------------------
def sweep_list(request):
    queryset = selectors.sweeps()
    kind = request.GET.get("kind")
    if kind in {"manual", "retro_hunt", "continuous"}:
        queryset = queryset.filter(kind=kind)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(request, "intel/sweep_list.html", {"page": page, "kind": kind})


@role_required(WRITERS)
def sweep_new(request):
    initial = {"selection": "all"}
    if request.GET.get("ioc"):
        initial.update(selection="iocs", iocs=request.GET["ioc"])
    if request.GET.get("q"):
        initial.update(selection="adhoc", adhoc_values=request.GET["q"])
    form = SweepForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            sweep = services.sweep_launch(**form.service_kwargs(), user=request.user)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            return redirect(_url(request, "sweep-detail", pk=sweep.pk))
    return render(
        request,
        "intel/sweep_form.html",
        {"form": form, "choices": endpoint_filter_choices()},
        status=400 if form.errors else 200,
    )


def sweep_detail(request, pk: int):
    sweep = get_object_or_404(selectors.sweeps(), pk=pk)
    hits = selectors.hits().filter(sweep=sweep)
    page = Paginator(hits, 100).get_page(request.GET.get("page"))
    return render(request, "intel/sweep_detail.html", {"sweep": sweep, "page": page})


def sweep_progress(request, pk: int):
    sweep = get_object_or_404(Sweep, pk=pk)
    return render(request, "intel/_sweep_progress.html", {"sweep": sweep})


@require_POST
@role_required(WRITERS)
def sweep_cancel(request, pk: int):
    sweep = get_object_or_404(Sweep, pk=pk)
    if not sweep.finished:
        services.sweep_cancel(sweep=sweep)
        messages.success(request, "Sweep cancelled; hits found so far are kept.")
    return redirect(_url(request, "sweep-detail", pk=sweep.pk))


@require_POST
@role_required(WRITERS)
def sweep_resume(request, pk: int):
    sweep = get_object_or_404(Sweep, pk=pk)
    if not sweep.finished:
        count = services.sweep_resume(sweep=sweep)
        messages.success(request, f"{count} chunk(s) re-enqueued.")
    return redirect(_url(request, "sweep-detail", pk=sweep.pk))


def hit_list(request):
    queryset = selectors.hits()
    for name in ("sweep", "ioc", "endpoint"):
        value = request.GET.get(name, "")
        if value.isdigit():
            queryset = queryset.filter(**{f"{name}_id": int(value)})
    page = Paginator(queryset, 100).get_page(request.GET.get("page"))
    return render(request, "intel/hit_list.html", {"page": page})


# --- reputation, allowlist, search --------------------------------------------------------
def reputation(request):
    form = LookupForm(request.GET or None)
    verdict = None
    if form.is_valid():
        try:
            verdict = services.reputation_lookup(form.cleaned_data["hash"])
        except ValidationError as exc:
            _errors(form, exc)
    recent = Reputation.objects.filter(verdict__in=["malicious", "suspicious"])[:50]
    return render(
        request, "intel/reputation.html", {"form": form, "verdict": verdict, "recent": recent}
    )


def allowlist(request):
    form = AllowlistForm(request.POST or None)
    if request.method == "POST":
        if request.role not in roles.LEADS:
            return render(request, "403.html", status=403)
        if form.is_valid():
            try:
                entry = services.allowlist_add(**form.cleaned_data, user=request.user)
            except ValidationError as exc:
                _errors(form, exc)
            else:
                messages.success(request, f"{entry} allowlisted; IOCs it covers are suppressed.")
                return redirect(_url(request, "allowlist"))
    entries = AllowlistEntry.objects.select_related("created_by")
    return render(request, "intel/allowlist.html", {"form": form, "entries": entries})


@require_POST
@role_required(roles.LEADS)
def allowlist_remove(request, pk: int):
    entry = get_object_or_404(AllowlistEntry, pk=pk)
    services.allowlist_remove(entry=entry)
    messages.success(request, f"{entry} removed from the allowlist.")
    return redirect(_url(request, "allowlist"))


def search(request):
    form = SearchForm(request.GET or None)
    result = selectors.observation_search(form.cleaned_data["q"]) if form.is_valid() else None
    return render(request, "intel/search.html", {"form": form, "result": result})


def intel_home(request):
    return HttpResponseRedirect(_url(request, "ioc-list"))
