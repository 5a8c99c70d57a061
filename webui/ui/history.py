"""The Gallery tab: the image history with search, filters, boards, star, delete, export,
import and reuse. Every handler asks the store as the calling user (``resolve_caller``)."""

from __future__ import annotations

import logging
from contextlib import closing
from dataclasses import dataclass
from datetime import date

import gradio as gr

from webui.caller import resolve_caller
from webui.history.boards import BoardError
from webui.history.export import export_zip
from webui.history.importer import import_folder
from webui.history.query import GalleryQuery
from webui.history.reuse import fields_from_record, request_from_record
from webui.ui.sendto import SendSource, send_buttons
from webui.ui.widgets import USER_ERRORS, Preview, job_stream, stop_button

log = logging.getLogger(__name__)

PAGE = 48
ANY = "(any)"


def parse_day(text: str | None) -> date | None:
    """``YYYY-MM-DD`` -> date; blank -> None; anything else is a user error."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise gr.Error(f"dates are written YYYY-MM-DD, got {text[:40]!r}") from None


def build_query(text, mode, model, size, starred, board, sort, day_from, day_to, page) -> GalleryQuery:
    """The store query for the filter widgets' values."""
    width = height = None
    if size and size != ANY:
        width, height = (int(v) for v in size.split("x"))
    return GalleryQuery(
        text=text or "", mode=None if mode in (None, ANY) else mode,
        model=None if model in (None, ANY) else model, width=width, height=height,
        starred=bool(starred), board_id=board_id(board), newest_first=sort != "Oldest first",
        date_from=parse_day(day_from), date_to=parse_day(day_to), page=int(page or 0),
        per_page=PAGE)


def board_label(board, count: int) -> str:
    return f"{board.name} ({count}) #{board.id}"


def board_id(label: str | None) -> int | None:
    """``"cats (3) #12"`` -> 12; blank/any -> None."""
    if not label or label == ANY or "#" not in label:
        return None
    return int(label.rsplit("#", 1)[1])


def describe(store, row) -> str:
    """Markdown of every stored parameter of a record."""
    lines = [f"**#{row.id}** · {row.created_at:%Y-%m-%d %H:%M:%S} UTC · {row.mode} · "
             f"{row.width}x{row.height} · {'★ starred' if row.starred else 'not starred'}"]
    if row.source:
        lines.append(f"imported from **{row.source}**")
    boards = store.boards_of(row.id)
    if boards:
        lines.append("boards: " + ", ".join(boards))
    lines.append(f"`{row.image_path}`")
    return "  \n".join(lines)


@dataclass
class GalleryTab:
    """What the layout needs: the load function and its outputs, and the send-to hooks."""

    load: object
    outputs: list
    send: SendSource


def build_gallery_tab(ctx) -> GalleryTab:
    """Build the Gallery tab (see the module docstring)."""
    store = ctx.store
    with gr.Row():
        text = gr.Textbox(label="Search prompt and negative prompt", scale=4,
                          elem_id="gallery_search")
        sort = gr.Radio(["Newest first", "Oldest first"], value="Newest first", label="Sort",
                        scale=2)
        starred = gr.Checkbox(label="Starred only", scale=1)
    with gr.Row():
        mode = gr.Dropdown([ANY], value=ANY, label="Mode", allow_custom_value=True)
        model = gr.Dropdown([ANY], value=ANY, label="Model", allow_custom_value=True)
        size = gr.Dropdown([ANY], value=ANY, label="Size", allow_custom_value=True)
        board = gr.Dropdown([ANY], value=ANY, label="Board", allow_custom_value=True)
        day_from = gr.Textbox(label="From (YYYY-MM-DD)")
        day_to = gr.Textbox(label="To (YYYY-MM-DD)")
    with gr.Row():
        prev_btn = gr.Button("◀ Previous", size="sm")
        page_info = gr.Markdown(elem_id="gallery_page_info")
        next_btn = gr.Button("Next ▶", size="sm")
        refresh = gr.Button("Refresh", size="sm", elem_id="gallery_refresh")
    page = gr.State(0)
    ids = gr.State([])
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Gallery", columns=6, height=560, allow_preview=False,
                                 elem_id="history_gallery")
            selection = gr.CheckboxGroup([], label="Selected (#id)", elem_id="gallery_selection")
            with gr.Row():
                select_all = gr.Button("Select page", size="sm")
                select_none = gr.Button("Clear selection", size="sm")
                star_sel = gr.Button("★ Star selected", size="sm")
                unstar_sel = gr.Button("☆ Unstar selected", size="sm")
                delete_sel = gr.Button("Delete selected", variant="stop", size="sm")
            with gr.Row():
                target_board = gr.Dropdown([], label="Board", allow_custom_value=True, scale=2)
                add_board = gr.Button("Add selected to board", size="sm")
                off_board = gr.Button("Remove selected from board", size="sm")
            with gr.Row():
                new_board = gr.Textbox(label="New board name", scale=2)
                create_board = gr.Button("Create board", size="sm")
                drop_board = gr.Button("Delete board (keeps images)", size="sm")
            with gr.Row():
                export_btn = gr.Button("Export selected (zip)", size="sm")
                export_file = gr.File(label="Export", interactive=False)
            with gr.Accordion("Import folder", open=False):
                import_dir = gr.Textbox(label="Folder on the server (e.g. an A1111 outputs/)")
                import_btn = gr.Button("Import folder", elem_id="gallery_import")
        with gr.Column(scale=2):
            full = gr.Image(label="Image", type="filepath", interactive=False, format="png",
                            elem_id="gallery_image")
            meta = gr.Markdown(elem_id="gallery_meta")
            info = gr.Textbox(label="Parameters", lines=5, interactive=False,
                              elem_id="gallery_info")
            with gr.Row():
                star_one = gr.Button("★ Star / unstar", size="sm")
                delete_one = gr.Button("Delete", variant="stop", size="sm")
                rerun = gr.Button("Re-run same seed", size="sm", elem_id="gallery_rerun")
                vary = gr.Button("Vary seed", size="sm", elem_id="gallery_vary")
                stop_button(ctx, "gallery")  # stops the caller's job, as in the tabs
            send = send_buttons("gallery")
    status = gr.Markdown(elem_id="gallery_status")

    filters = [text, mode, model, size, starred, board, sort, day_from, day_to]

    def load_page(text_, mode_, model_, size_, starred_, board_, sort_, day_from_, day_to_,
                  page_no, request):
        who = resolve_caller(ctx, request)
        owner, admin = who.owner, who.is_admin
        q = build_query(text_, mode_, model_, size_, starred_, board_, sort_, day_from_,
                        day_to_, page_no)
        result = store.search(q, owner, admin)
        if result.rows == [] and q.page > 0:  # the page vanished (deletes): show the last one
            q.page = result.pages - 1
            result = store.search(q, owner, admin)
        items = [(str(store.thumbnail(r)), f"#{r.id} {r.prompt[:60]}") for r in result.rows]
        row_ids = [r.id for r in result.rows]
        board_choices = [ANY] + [board_label(b, n) for b, n in store.boards(owner, admin)]
        info_md = (f"{result.total_text()} image(s) · page {q.page + 1} of "
                   f"{result.pages}{'+' if result.more else ''}"
                   + (" · full-text search" if store.fts and text_ else ""))
        return (items, row_ids, q.page, info_md,
                gr.update(choices=[ANY] + store.choices("mode", owner, admin)),
                gr.update(choices=[ANY] + store.choices("model_name", owner, admin)),
                gr.update(choices=[ANY] + store.choices("size", owner, admin)),
                gr.update(choices=board_choices),
                gr.update(choices=board_choices[1:]),
                gr.update(choices=[(f"#{i}", i) for i in row_ids], value=[]))

    outputs = [gallery, ids, page, page_info, mode, model, size, board, target_board,
               selection]

    def first_page(t, m, mo, si, st, b, so, df, dt, request: gr.Request = None):
        return load_page(t, m, mo, si, st, b, so, df, dt, 0, request)

    def this_page(t, m, mo, si, st, b, so, df, dt, p, request: gr.Request = None):
        return load_page(t, m, mo, si, st, b, so, df, dt, p, request)

    def prev_page(t, m, mo, si, st, b, so, df, dt, p, request: gr.Request = None):
        return load_page(t, m, mo, si, st, b, so, df, dt, max(0, int(p) - 1), request)

    def next_page(t, m, mo, si, st, b, so, df, dt, p, request: gr.Request = None):
        return load_page(t, m, mo, si, st, b, so, df, dt, int(p) + 1, request)

    def show(row_ids, evt: gr.SelectData, request: gr.Request = None):
        who = resolve_caller(ctx, request)
        owner, admin = who.owner, who.is_admin
        if evt.index is None or evt.index >= len(row_ids):
            return None, "", "", None
        row = store.get(row_ids[evt.index], owner, admin)
        if row is None:
            return None, "This image was deleted.", "", None
        path = store.image_path(row)
        image = str(path) if path.is_file() else None
        note = "" if image else "\n\n**The image file is missing on disk.**"
        return image, describe(store, row) + note, row.infotext, \
            fields_from_record(row, image) | {"id": row.id}

    def call(fn, request, *args):
        who = resolve_caller(ctx, request)
        owner, admin = who.owner, who.is_admin
        try:
            return fn(owner, admin, *args)
        except (BoardError, ValueError, FileNotFoundError) as exc:
            raise gr.Error(str(exc)) from None

    def act(fn):
        """A one-input handler running ``fn(owner, admin, value)`` for the caller."""
        def handler(value, request: gr.Request = None):
            return call(fn, request, value)
        return handler

    def act2(fn):
        """A two-input handler running ``fn(owner, admin, a, b)`` for the caller."""
        def handler(a, b, request: gr.Request = None):
            return call(fn, request, a, b)
        return handler

    def selected(sel):
        if not sel:
            raise ValueError("select images first (tick them under the gallery)")
        return [int(i) for i in sel]

    def star(owner, admin, sel, on):
        return f"{store.set_starred(selected(sel), on, owner, admin)} image(s) " \
               f"{'starred' if on else 'unstarred'}."

    def delete_many(owner, admin, sel):
        return f"Deleted {store.delete(selected(sel), owner, admin)} image(s)."

    def toggle_one(owner, admin, payload):
        row = payload and store.get(payload["id"], owner, admin)
        if not row:
            raise ValueError("click an image first")
        store.set_starred([row.id], not row.starred, owner, admin)
        return ("Starred" if not row.starred else "Unstarred") + f" #{row.id}."

    def delete_one_fn(owner, admin, payload):
        if not payload or not store.delete([payload["id"]], owner, admin):
            raise ValueError("click an image first")
        return f"Deleted #{payload['id']}.", None, "", "", None

    def to_board(owner, admin, label, sel, add):
        bid = board_id(label)
        if bid is None:
            raise ValueError("choose a board first")
        fn = store.add_to_board if add else store.remove_from_board
        n = fn(bid, selected(sel), owner, admin)
        return f"{n} image(s) {'added to' if add else 'removed from'} the board."

    def make_board(owner, admin, name):
        b = store.create_board(name, owner)
        return f"Board {b.name!r} created.", ""

    def remove_board(owner, admin, label):
        bid = board_id(label)
        if bid is None:
            raise ValueError("choose a board first")
        store.delete_board(bid, owner, admin)
        return "Board deleted; its images stay in the gallery."

    def export(owner, admin, sel):
        target, problems = export_zip(store, selected(sel), owner, admin)
        note = f" Problems: {'; '.join(problems)}" if problems else ""
        return str(target), f"Exported {len(sel)} image(s).{note}"

    def run_import(owner, admin, folder):
        if not admin:
            raise ValueError("only an admin can import server folders")
        if not (folder or "").strip():
            raise ValueError("type the folder to import")
        return import_folder(store, folder.strip(), owner).message()

    def rerun_job(payload, vary_seed, request, progress):
        """Re-run the clicked image's record as the caller's job through ``job_stream`` (the
        tabs' run: progress, live previews, Stop); yield (image, status)."""
        who = resolve_caller(ctx, request)
        row = payload and store.get(payload["id"], who.owner, who.is_admin)
        if not row:
            raise gr.Error("click an image first")
        try:
            req = request_from_record(row, vary_seed)
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        with closing(job_stream(ctx, req, request, progress,
                                user_errors=USER_ERRORS + (ValueError,))) as events:
            for event in events:
                if isinstance(event, Preview):
                    yield event.image, f"Preview at step {event.step}/{event.total}"
                    continue
                if not event.saved:
                    yield gr.update(), "Stopped before an image was finished."
                    return
                yield str(event.saved[0].path), f"New image #{event.saved[0].id} " \
                    f"(seed {event.result.images[0].seed}); press Refresh to list it."

    def rerun_same_seed(payload, request: gr.Request = None, progress=gr.Progress()):
        yield from rerun_job(payload, False, request, progress)

    def rerun_vary_seed(payload, request: gr.Request = None, progress=gr.Progress()):
        yield from rerun_job(payload, True, request, progress)

    private = dict(api_visibility="private")
    refresh.click(this_page, filters + [page], outputs, **private)
    text.submit(first_page, filters, outputs, **private)
    for widget in (mode, model, size, board, starred, sort):
        widget.input(first_page, filters, outputs, **private)
    prev_btn.click(prev_page, filters + [page], outputs, **private)
    next_btn.click(next_page, filters + [page], outputs, **private)
    gallery.select(show, ids, [full, meta, info, send.payload], **private)
    select_all.click(lambda row_ids: row_ids, ids, selection, **private)
    select_none.click(lambda: [], None, selection, **private)
    reload = dict(fn=this_page, inputs=filters + [page], outputs=outputs, **private)
    star_sel.click(act(lambda o, a, s: star(o, a, s, True)), selection, status,
                   **private).success(**reload)
    unstar_sel.click(act(lambda o, a, s: star(o, a, s, False)), selection, status,
                     **private).success(**reload)
    delete_sel.click(act(delete_many), selection, status, **private).success(**reload)
    star_one.click(act(toggle_one), send.payload, status, **private).success(**reload)
    delete_one.click(act(delete_one_fn), send.payload, [status, full, meta, info, send.payload],
                     **private).success(**reload)
    add_board.click(act2(lambda o, a, b, s: to_board(o, a, b, s, True)),
                    [target_board, selection], status, **private).success(**reload)
    off_board.click(act2(lambda o, a, b, s: to_board(o, a, b, s, False)),
                       [target_board, selection], status, **private).success(**reload)
    create_board.click(act(make_board), new_board, [status, new_board],
                       **private).success(**reload)
    drop_board.click(act(remove_board), target_board, status, **private).success(**reload)
    export_btn.click(act(export), selection, [export_file, status], **private)
    import_btn.click(act(run_import), import_dir, status, **private).success(**reload)
    # like the tabs: the device queue (ctx.jobs) orders the jobs, Gradio does not hold them
    gpu = dict(concurrency_limit=None, **private)
    rerun.click(rerun_same_seed, send.payload, [full, status], **gpu)
    vary.click(rerun_vary_seed, send.payload, [full, status], **gpu)

    def initial(request: gr.Request = None):
        """The first page with no filters (tab opened, app loaded)."""
        return load_page("", ANY, ANY, ANY, False, ANY, "Newest first", "", "", 0, request)

    return GalleryTab(initial, outputs, send)
