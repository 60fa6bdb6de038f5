"""The web app (Starlette): thin handlers over ``WebStore``, ``access`` and
``auth``. Every page but the login needs a session; every POST a CSRF token."""
from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from lpr_access import lists
from lpr_web import access
from lpr_web.auth import DUMMY_HASH, LoginLimiter, new_token, same_token, verify_password
from lpr_web.store import SearchQuery, WebStore
from lpr_web.visits import Pairing, format_duration

HERE = Path(__file__).parent
DIRECTIONS = ('approaching', 'leaving')
MAX_IMPORT_BYTES = 1_000_000
SECURITY_HEADERS = [
    (b'content-security-policy', b"default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; "
                                 b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b'x-content-type-options', b'nosniff'),
    (b'referrer-policy', b'no-referrer'),
    (b'cache-control', b'no-store'),
]


@dataclass(frozen=True)
class WebOptions:
    idle_s: float = 1800.0            # a session ends after this long without a request
    max_session_s: float = 12 * 3600  # and this long after the login, whatever happens
    secure_cookie: bool = False       # set behind HTTPS: the cookie is then sent only over TLS
    login_attempts: int = 5           # failed logins per address and per user name ...
    login_window_s: float = 300.0     # ... within this window, then 429


def _security_headers(app):
    async def wrapped(scope, receive, send):
        async def send_with_headers(message):
            if message['type'] == 'http.response.start':
                message.setdefault('headers', [])
                message['headers'] = list(message['headers']) + SECURITY_HEADERS
            await send(message)
        await app(scope, receive, send_with_headers)
    return wrapped


# -- sessions and CSRF -----------------------------------------------------------------
def _user(request: Request) -> str:
    session = request.session
    options: WebOptions = request.app.state.options
    if not session.get('user'):
        return ''
    if dt.datetime.now().timestamp() - session.get('login_at', 0) > options.max_session_s:
        session.clear()
        return ''
    return session['user']


def _csrf(request: Request) -> str:
    if 'csrf' not in request.session:
        request.session['csrf'] = new_token()
    return request.session['csrf']


async def _checked_form(request: Request):
    """The POSTed form, after its CSRF token matched the session's (else 403)."""
    form = await request.form(max_files=1, max_fields=50)
    if not same_token(form.get('csrf'), request.session.get('csrf')):
        raise HTTPException(403, 'CSRF token missing or wrong; reload the page')
    return form


def login_required(handler):
    @functools.wraps(handler)
    async def wrapped(request: Request):
        if not _user(request):
            if request.method == 'GET' and not request.url.path.startswith('/api/'):
                return RedirectResponse('/login?next=' + request.url.path, status_code=303)
            return JSONResponse({'error': 'login required'}, status_code=401)
        return await handler(request)
    return wrapped


def _render(request: Request, template: str, status_code: int = 200, **context):
    context.update(user=_user(request), csrf=_csrf(request))
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)


def _db(request: Request, method, *args, **kwargs):
    """Run a (blocking) store call off the event loop."""
    return run_in_threadpool(method, *args, **kwargs)


# -- login -------------------------------------------------------------------------------
async def login_page(request: Request):
    return _render(request, 'login.html', next=_safe_next(request.query_params.get('next', '/')))


async def login(request: Request):
    form = await _checked_form(request)
    name, password = str(form.get('user', ''))[:64], str(form.get('password', ''))
    nxt = _safe_next(str(form.get('next', '/')))
    limiter: LoginLimiter = request.app.state.limiter
    client = request.client.host if request.client else '?'
    wait = limiter.retry_after(client, name)
    if wait > 0:
        return _render(request, 'login.html', status_code=429, next=nxt,
                       error=f'Too many failed logins; try again in {int(wait) + 1} s.')
    stored = await _db(request, request.app.state.store.password_hash, name)
    if not await run_in_threadpool(verify_password, password, stored or DUMMY_HASH) or stored is None:
        limiter.failed(client, name)
        return _render(request, 'login.html', status_code=401, next=nxt, error='Wrong user name or password.')
    limiter.succeeded(client, name)
    request.session.clear()   # a fresh session (and CSRF token) for the logged-in user
    request.session.update(user=name, csrf=new_token(), login_at=dt.datetime.now().timestamp())
    return RedirectResponse(nxt, status_code=303)


def _safe_next(path: str) -> str:
    """Only a path on this site (never //host or a scheme) after the login."""
    return path if path.startswith('/') and not path.startswith('//') and '\\' not in path else '/'


@login_required
async def logout(request: Request):
    await _checked_form(request)
    request.session.clear()
    return RedirectResponse('/login', status_code=303)


# -- journal, search, export ------------------------------------------------------------
@login_required
async def journal_page(request: Request):
    store: WebStore = request.app.state.store
    views = await _db(request, store.latest, 50)
    return _render(request, 'journal.html', views=views, cameras=await _db(request, store.cameras),
                   requests=await _db(request, store.barrier_requests, 5))


@login_required
async def journal_rows(request: Request):
    """The journal's table body, fetched every few seconds by live.js."""
    views = await _db(request, request.app.state.store.latest, 50)
    return _render(request, '_rows.html', views=views)


def _search_query(request: Request, limit: int = 200) -> SearchQuery:
    p = request.query_params
    direction, decision = p.get('direction', ''), p.get('decision', '')
    if direction not in ('', *DIRECTIONS) or decision not in ('', *lists.LISTS, lists.UNKNOWN):
        raise ValueError('unknown direction or decision')
    return SearchQuery(text=p.get('q', '')[:64], camera=p.get('camera', '')[:64],
                       since=access.parse_time(p.get('since', '')), until=access.parse_time(p.get('until', '')),
                       direction=direction, decision=decision, limit=limit)


@login_required
async def search_page(request: Request):
    store: WebStore = request.app.state.store
    error, views = '', []
    try:
        query = _search_query(request)
        views = await _db(request, store.search, query)
    except ValueError as exc:
        error = str(exc)
    return _render(request, 'search.html', status_code=400 if error else 200, views=views, error=error,
                   params=request.query_params, cameras=await _db(request, store.cameras),
                   directions=DIRECTIONS, decisions=(*lists.LISTS, lists.UNKNOWN),
                   export_query=str(request.query_params))


EXPORT_FIELDS = ('event_id', 'time_utc', 'camera', 'plate', 'corrected_plate', 'confidence', 'read_count',
                 'direction', 'decision', 'matched_entry', 'region', 'upload_state', 'frame_path',
                 'gate', 'paired_event_id', 'parked_s')


def _export_row(view, pairing: Pairing = Pairing()) -> dict:
    r, entry = view.row, view.decision.entry
    return {'event_id': r.event_id, 'time_utc': r.best_seen.isoformat(timespec='milliseconds'),
            'camera': r.camera_id, 'plate': r.plate, 'corrected_plate': view.corrected,
            'confidence': round(r.confidence, 4), 'read_count': r.read_count, 'direction': r.direction,
            'decision': view.decision.decision, 'matched_entry': entry.plate if entry else '',
            'region': r.region, 'upload_state': r.upload_state, 'frame_path': r.frame_path,
            **_visit_fields(r.event_id, pairing)}


def _visit_fields(event_id: str, pairing: Pairing) -> dict:
    """gate: entry / exit ('' off the gates); the other end of the visit; the time parked (s)."""
    visit = pairing.by_event.get(event_id)
    if visit is None:
        return {'gate': '', 'paired_event_id': '', 'parked_s': ''}
    is_entry = visit.entry is not None and visit.entry.event_id == event_id
    other = visit.exit if is_entry else visit.entry
    duration = visit.duration
    return {'gate': 'entry' if is_entry else 'exit', 'paired_event_id': other.event_id if other else '',
            'parked_s': round(duration.total_seconds(), 1) if duration is not None else ''}


def _csv_cell(value):
    """No formula injection: a cell a spreadsheet would evaluate starts with '."""
    return "'" + value if isinstance(value, str) and value[:1] in ('=', '+', '-', '@', '\t', '\r') else value


@login_required
async def export(request: Request):
    fmt = request.path_params['fmt']
    if fmt not in ('csv', 'json'):
        raise HTTPException(404, 'export as .csv or .json')
    store: WebStore = request.app.state.store
    try:
        views = await _db(request, store.search, _search_query(request, limit=100_000))
    except ValueError as exc:
        return JSONResponse({'error': str(exc)}, status_code=400)
    pairing = await _db(request, store.pairing, views)
    rows = [_export_row(v, pairing) for v in views]
    stamp = dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d-%H%M%S')
    headers = {'content-disposition': f'attachment; filename="lpr-events-{stamp}.{fmt}"'}
    if fmt == 'json':
        return Response(json.dumps(rows, ensure_ascii=False, indent=1), media_type='application/json',
                        headers=headers)
    out = io.StringIO()
    writer = csv.DictWriter(out, EXPORT_FIELDS)
    writer.writeheader()
    writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)
    return Response(out.getvalue(), media_type='text/csv; charset=utf-8', headers=headers)


# -- one event, corrections, images --------------------------------------------------------
async def _event_page(request: Request, status_code: int = 200, error: str = ''):
    store: WebStore = request.app.state.store
    view = await _db(request, store.event, request.path_params['event_id'])
    if view is None:
        raise HTTPException(404, 'no such event')
    corrections = await _db(request, store.corrections, view.row.event_id)
    pairing = await _db(request, store.pairing, [view])
    return _render(request, 'event.html', status_code=status_code, view=view, corrections=corrections,
                   error=error, visit=pairing.by_event.get(view.row.event_id), now=_now(),
                   requests=await _db(request, store.barrier_requests, 20, view.row.event_id))


@login_required
async def event_page(request: Request):
    return await _event_page(request)


@login_required
async def correct(request: Request):
    form = await _checked_form(request)
    event_id = request.path_params['event_id']
    try:
        await _db(request, request.app.state.store.correct, event_id, str(form.get('plate', '')),
                  _user(request), str(form.get('note', '')))
    except ValueError as exc:
        return await _event_page(request, 400, str(exc))
    except LookupError:
        raise HTTPException(404, 'no such event') from None
    return RedirectResponse(f'/event/{event_id}', status_code=303)


@login_required
async def image(request: Request):
    try:
        path = request.app.state.store.image_file(request.path_params['path'])
    except LookupError:
        raise HTTPException(404, 'no such image') from None
    return FileResponse(path)


# -- access lists -------------------------------------------------------------------------
async def _lists_page(request: Request, status_code: int = 200, **context):
    entries = await _db(request, request.app.state.store.entries)
    server_ids = await _db(request, request.app.state.store.server_entry_ids)
    return _render(request, 'lists.html', status_code=status_code, entries=entries, lists=lists.LISTS,
                   server_ids=server_ids, **context)


@login_required
async def lists_page(request: Request):
    return await _lists_page(request)


@login_required
async def list_add(request: Request):
    form = await _checked_form(request)
    fields = ('list_name', 'plate', 'cameras', 'valid_from', 'valid_until', 'note')
    try:
        entry = access.make_entry(*(str(form.get(f, '')) for f in fields))
    except ValueError as exc:
        return await _lists_page(request, 400, error=str(exc))
    await _db(request, request.app.state.store.add_entries, [entry], _user(request))
    return RedirectResponse('/lists', status_code=303)


@login_required
async def list_import(request: Request):
    form = await _checked_form(request)
    upload = form.get('file')
    data = await upload.read(MAX_IMPORT_BYTES + 1) if upload is not None and hasattr(upload, 'read') else b''
    text = data.decode('utf-8-sig', errors='replace') if data else str(form.get('csv', ''))
    if len(text.encode()) > MAX_IMPORT_BYTES:
        return await _lists_page(request, 413, error=f'import larger than {MAX_IMPORT_BYTES} bytes')
    result = access.parse_csv(text)
    await _db(request, request.app.state.store.add_entries, result.entries, _user(request))
    return await _lists_page(request, 200 if not result.errors else 422, imported=len(result.entries),
                             import_errors=result.errors)


@login_required
async def list_delete(request: Request):
    await _checked_form(request)
    try:
        await _db(request, request.app.state.store.delete_entry, int(request.path_params['entry_id']))
    except PermissionError as exc:
        return await _lists_page(request, 403, error=str(exc))
    return RedirectResponse('/lists', status_code=303)


# -- manual barrier opens and who is inside --------------------------------------------------
@login_required
async def barrier_page(request: Request):
    return await _barrier_page(request)


async def _barrier_page(request: Request, status_code: int = 200, **context):
    store: WebStore = request.app.state.store
    return _render(request, 'barrier.html', status_code=status_code, cameras=await _db(request, store.cameras),
                   requests=await _db(request, store.barrier_requests, 200), **context)


@login_required
async def barrier_open(request: Request):
    """Ask the access node to pulse the barrier (it executes or expires the request)."""
    form = await _checked_form(request)
    try:
        await _db(request, request.app.state.store.request_open, _user(request), str(form.get('camera', '')),
                  str(form.get('reason', '')), str(form.get('event_id', ''))[:64])
    except ValueError as exc:
        return await _barrier_page(request, 400, error=str(exc))
    except LookupError:
        raise HTTPException(404, 'no such event') from None
    return RedirectResponse(_safe_next(str(form.get('next', '/barrier'))), status_code=303)


@login_required
async def presence_page(request: Request):
    store: WebStore = request.app.state.store
    now = _now()
    inside, done = await _db(request, store.presence, now)
    return _render(request, 'presence.html', inside=inside, done=done, now=now, gates=store.gates)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# -- health ------------------------------------------------------------------------------
@login_required
async def health_page(request: Request):
    return _render(request, 'health.html', health=await _db(request, request.app.state.store.health))


@login_required
async def api_events(request: Request):
    """The latest events as JSON (same fields as the export)."""
    views = await _db(request, request.app.state.store.latest, 50)
    return JSONResponse([_export_row(v) for v in views])


def _local_time(value: dt.datetime | None) -> str:
    return value.astimezone().strftime('%Y-%m-%d %H:%M:%S.%f')[:-3] if value else ''


def create_app(store: WebStore, secret_key: str | None = None, options: WebOptions = WebOptions(),
               limiter: LoginLimiter | None = None) -> Starlette:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / 'templates'), autoescape=True)
    env.filters['local'] = _local_time
    env.filters['duration'] = format_duration
    routes = [
        Route('/login', login_page, methods=['GET']),
        Route('/login', login, methods=['POST']),
        Route('/logout', logout, methods=['POST']),
        Route('/', journal_page),
        Route('/journal/rows', journal_rows),
        Route('/search', search_page),
        Route('/export.{fmt:str}', export),
        Route('/event/{event_id:str}', event_page),
        Route('/event/{event_id:str}/correct', correct, methods=['POST']),
        Route('/image/{path:path}', image),
        Route('/lists', lists_page),
        Route('/lists/add', list_add, methods=['POST']),
        Route('/lists/import', list_import, methods=['POST']),
        Route('/lists/{entry_id:int}/delete', list_delete, methods=['POST']),
        Route('/barrier', barrier_page),
        Route('/barrier/open', barrier_open, methods=['POST']),
        Route('/presence', presence_page),
        Route('/health', health_page),
        Route('/api/events', api_events),
        Mount('/static', StaticFiles(directory=HERE / 'static'), name='static'),
    ]
    middleware = [Middleware(_security_headers),
                  Middleware(SessionMiddleware, secret_key=secret_key or secrets.token_urlsafe(32),
                             session_cookie='lpr_web', max_age=int(options.idle_s), same_site='strict',
                             https_only=options.secure_cookie)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.store, app.state.options = store, options
    app.state.templates = Jinja2Templates(env=env)
    app.state.limiter = limiter or LoginLimiter(options.login_attempts, options.login_window_s)
    return app
