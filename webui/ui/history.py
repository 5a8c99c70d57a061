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
        raise gr.Error(f"dates are written YYYY-MM-DD, got {text[:40]!r}",
                       print_exception=False) from None


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


#: how a refused action's status message starts (the page is then not reloaded)
PROBLEM = "⚠"


def clear_after(seconds: float) -> str:
    """Browser-side js for a status line: empty it ``seconds`` later (no server round trip,
    no worker held while waiting)."""
    return f"() => new Promise(done => setTimeout(() => done(''), {int(seconds * 1000)}))"


def marked(plain: list, row_ids: list, picked) -> list:
    """The page's (thumbnail, caption) pairs, the picked ones' captions marked with ✓."""
    picked = set(picked or [])
    return [(path, f"✓ {caption}" if i in picked else caption)
            for (path, caption), i in zip(plain, row_ids)]


def board_label(board, count: int) -> str:
    return f"{board.name} ({count}) #{board.id}"


def board_id(label: str | None) -> int | None:
    """``"cats (3) #12"`` -> 12; blank/any -> None."""
    if not label or label == ANY or "#" not in label:
        return None
    return int(label.rsplit("#", 1)[1])


#: the mark of an image the output filter blurred or withheld (caption and details)
FILTERED_MARK = "⚠ filtered · "
#: the label of an image without an owner on a server with logins (shown to admins only)
BEFORE_LOGINS = "made before logins"


def owner_note(ctx, row) -> str:
    """Whose image ``row`` is, said only where there are logins: "owner: bob", or
    :data:`BEFORE_LOGINS` for an image made while logins were off (no owner)."""
    if not ctx.users.enabled:
        return ""
    return f"{BEFORE_LOGINS} (no owner: admins only)" if row.owner is None else \
        f"owner: {row.owner}"


def describe(store, row) -> str:
    """Markdown of every stored parameter of a record."""
    lines = [f"**#{row.id}** · {row.created_at:%Y-%m-%d %H:%M:%S} UTC · {row.mode} · "
             f"{row.width}x{row.height} · {'★ starred' if row.starred else 'not starred'}"]
    if row.source:
        lines.append(f"imported from **{row.source}**")
    if row.filtered:  # the output filter (--safety-checker) blurred or withheld it
        lines.append(f"{FILTERED_MARK}**output filter**: {row.filtered}")
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
    items = gr.State([])  # the page's (thumbnail, caption) pairs, to mark picked ones
    pending_one, pending_many = gr.State(None), gr.State([])  # what a confirmation deletes
    with gr.Row():
        with gr.Column(scale=3):
            # "contain": a thumbnail shows the whole image, not a square crop of it
            gallery = gr.Gallery(label="Gallery", columns=6, height=560, allow_preview=False,
                                 object_fit="contain", elem_id="history_gallery")
            picking = gr.Checkbox(label="Pick images by clicking their thumbnails "
                                  "(click again to unpick)", elem_id="gallery_select_mode")
            selection = gr.CheckboxGroup([], label="Selected (#id)", elem_id="gallery_selection")
            with gr.Row():
                select_all = gr.Button("Select page", size="sm")
                select_none = gr.Button("Clear selection", size="sm")
                star_sel = gr.Button("★ Star selected", size="sm", elem_id="gallery_star_sel")
                unstar_sel = gr.Button("☆ Unstar selected", size="sm",
                                       elem_id="gallery_unstar_sel")
                delete_sel = gr.Button("Delete selected", variant="stop", size="sm",
                                       elem_id="gallery_delete_sel")
            with gr.Row(visible=False, elem_id="gallery_delete_sel_confirm") as many_confirm:
                many_question = gr.Markdown()
                many_yes = gr.Button("Yes, delete", variant="stop", size="sm",
                                     elem_id="gallery_delete_sel_yes")
                many_no = gr.Button("Cancel", size="sm", elem_id="gallery_delete_sel_cancel")
            bulk_status = gr.Markdown(elem_id="gallery_bulk_status")
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
            board_status = gr.Markdown(elem_id="gallery_board_status")
            with gr.Accordion("Import folder", open=False):
                import_dir = gr.Textbox(label="Folder on the server (e.g. an A1111 outputs/)")
                import_btn = gr.Button("Import folder", elem_id="gallery_import")
                import_status = gr.Markdown(elem_id="gallery_import_status")
        with gr.Column(scale=2):
            full = gr.Image(label="Image", type="filepath", interactive=False, format="png",
                            elem_id="gallery_image")
            meta = gr.Markdown(elem_id="gallery_meta")
            info = gr.Textbox(label="Parameters", lines=5, interactive=False,
                              elem_id="gallery_info")
            with gr.Row():
                star_one = gr.Button("★ Star / unstar", size="sm", elem_id="gallery_star_one")
                delete_one = gr.Button("Delete", variant="stop", size="sm",
                                       elem_id="gallery_delete_one")
                rerun = gr.Button("Re-run same seed", size="sm", elem_id="gallery_rerun")
                vary = gr.Button("Vary seed", size="sm", elem_id="gallery_vary")
                stop_button(ctx, "gallery")  # stops the caller's job, as in the tabs
            with gr.Row(visible=False, elem_id="gallery_delete_one_confirm") as one_confirm:
                one_question = gr.Markdown()
                one_yes = gr.Button("Yes, delete", variant="stop", size="sm",
                                    elem_id="gallery_delete_one_yes")
                one_no = gr.Button("Cancel", size="sm", elem_id="gallery_delete_one_cancel")
            item_status = gr.Markdown(elem_id="gallery_item_status")
            send = send_buttons("gallery")

    filters = [text, mode, model, size, starred, board, sort, day_from, day_to]

    def load_page(text_, mode_, model_, size_, starred_, board_, sort_, day_from_, day_to_,
                  page_no, request, keep=()):
        """The page's thumbnails, filters' choices and selection (``keep``: the selected ids
        to keep ticked where they are still on the page)."""
        who = resolve_caller(ctx, request)
        owner, admin = who.owner, who.is_admin
        q = build_query(text_, mode_, model_, size_, starred_, board_, sort_, day_from_,
                        day_to_, page_no)
        result = store.search(q, owner, admin)
        if result.rows == [] and q.page > 0:  # the page vanished (deletes): show the last one
            q.page = result.pages - 1
            result = store.search(q, owner, admin)
        before = f"({BEFORE_LOGINS}) " if ctx.users.enabled else ""
        plain = [(str(store.thumbnail(r)),
                  f"#{r.id} {FILTERED_MARK if r.filtered else ''}"
                  f"{before if r.owner is None else ''}{r.prompt[:60]}")
                 for r in result.rows]
        row_ids = [r.id for r in result.rows]
        kept = [i for i in (keep or []) if i in row_ids]
        board_choices = [ANY] + [board_label(b, n) for b, n in store.boards(owner, admin)]
        info_md = (f"{result.total_text()} image(s) · page {q.page + 1} of "
                   f"{result.pages}{'+' if result.more else ''}"
                   + (" · full-text search" if store.fts and text_ else ""))
        return (marked(plain, row_ids, kept), row_ids, q.page, info_md,
                gr.update(choices=[ANY] + store.choices("mode", owner, admin)),
                gr.update(choices=[ANY] + store.choices("model_name", owner, admin)),
                gr.update(choices=[ANY] + store.choices("size", owner, admin)),
                gr.update(choices=board_choices),
                gr.update(choices=board_choices[1:]),
                gr.update(choices=[(f"#{i}", i) for i in row_ids], value=kept), plain)

    outputs = [gallery, ids, page, page_info, mode, model, size, board, target_board,
               selection, items]

    def first_page(t, m, mo, si, st, b, so, df, dt, request: gr.Request = None):
        return load_page(t, m, mo, si, st, b, so, df, dt, 0, request)

    def this_page(t, m, mo, si, st, b, so, df, dt, p, request: gr.Request = None):
        return load_page(t, m, mo, si, st, b, so, df, dt, p, request)

    def prev_page(t, m, mo, si, st, b, so, df, dt, p, request: gr.Request = None):
        return load_page(t, m, mo, si, st, b, so, df, dt, max(0, int(p) - 1), request)

    def next_page(t, m, mo, si, st, b, so, df, dt, p, request: gr.Request = None):
        return load_page(t, m, mo, si, st, b, so, df, dt, int(p) + 1, request)

    def reload_after(t, m, mo, si, st, b, so, df, dt, p, sel, message,
                     request: gr.Request = None):
        """The page again after an action (the selection kept), unless the action was
        refused: then nothing changes."""
        if (message or "").startswith(PROBLEM):
            return tuple(gr.update() for _ in outputs)
        return load_page(t, m, mo, si, st, b, so, df, dt, p, request, keep=sel)

    def show(row_ids, pick, sel, plain, evt: gr.SelectData, request: gr.Request = None):
        """A thumbnail clicked: open it in the detail pane, or (picking) tick/untick it."""
        who = resolve_caller(ctx, request)
        owner, admin = who.owner, who.is_admin
        keep = gr.update()
        if evt.index is None or evt.index >= len(row_ids):
            return keep, keep, keep, keep, keep, keep, keep
        record = row_ids[evt.index]
        if pick:
            sel = [i for i in (sel or []) if i != record] if record in (sel or []) else \
                [*(sel or []), record]
            return keep, keep, keep, keep, sel, marked(plain, row_ids, sel), keep
        row = store.get(record, owner, admin)
        hide = gr.Row(visible=False)  # a pending "delete #n?" was about the previous image
        if row is None:
            return None, "This image was deleted.", "", None, keep, keep, hide
        path = store.image_path(row)
        image = str(path) if path.is_file() else None
        note = "" if image else "\n\n**The image file is missing on disk.**"
        whose = owner_note(ctx, row)
        note = (f"  \n{whose}" if whose else "") + note
        return image, describe(store, row) + note, row.infotext, \
            fields_from_record(row, image) | {"id": row.id}, keep, keep, hide

    def call(fn, request, *args):
        """``fn(owner, admin, *args)`` for the caller; a refusal becomes the status message
        (the first output) shown beside the button, the other outputs left as they are."""
        who = resolve_caller(ctx, request)
        try:
            return fn(who.owner, who.is_admin, *args)
        except (BoardError, ValueError, FileNotFoundError) as exc:
            extra = getattr(fn, "extra_outputs", 0)
            message = f"{PROBLEM} {exc}"
            return (message, *(gr.update() for _ in range(extra))) if extra else message

    def act(fn, extra_outputs=0):
        """A one-input handler running ``fn(owner, admin, value)`` for the caller; ``fn``
        returns the status message (then ``extra_outputs`` more values)."""
        fn.extra_outputs = extra_outputs

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
            raise ValueError("select images first (tick them under the gallery, or pick them "
                             "on the thumbnails)")
        return [int(i) for i in sel]

    def star_on(owner, admin, sel):
        return f"{store.set_starred(selected(sel), True, owner, admin)} image(s) starred."

    def star_off(owner, admin, sel):
        return f"{store.set_starred(selected(sel), False, owner, admin)} image(s) unstarred."

    def ask_many(owner, admin, sel):
        wanted = selected(sel)
        names = ", ".join(f"#{i}" for i in wanted)
        return "", gr.Row(visible=True), \
            f"Delete {len(wanted)} image(s) ({names}) and their files for good?", wanted

    def delete_many(owner, admin, pending):
        return f"Deleted {store.delete(selected(pending), owner, admin)} image(s).", \
            gr.Row(visible=False), []

    def toggle_one(owner, admin, payload):
        row = payload and store.get(payload["id"], owner, admin)
        if not row:
            raise ValueError("click an image first")
        store.set_starred([row.id], not row.starred, owner, admin)
        row = store.get(row.id, owner, admin)
        return ("Starred" if row.starred else "Unstarred") + f" #{row.id}.", \
            describe(store, row)

    def ask_one(owner, admin, payload):
        row = payload and store.get(payload["id"], owner, admin)
        if not row:
            raise ValueError("click an image first")
        return "", gr.Row(visible=True), f"Delete **#{row.id}** and its file for good?", row.id

    def delete_one_fn(owner, admin, pending):
        if pending is None or not store.delete([pending], owner, admin):
            raise ValueError("this image is already gone")
        return f"Deleted #{pending}.", None, "", "", None, gr.Row(visible=False), None

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
        return f"Exported {len(sel)} image(s).{note}", str(target)

    def run_import(owner, admin, folder):
        if not admin:
            raise ValueError("only an admin can import server folders")
        if not (folder or "").strip():
            raise ValueError("type the folder to import")
        return import_folder(store, folder.strip(), owner).message()

    def rerun_job(payload, vary_seed, request, progress):
        """Re-run the clicked image's record as the caller's job through ``job_stream`` (the
        tabs' run: progress, live previews, Stop); yield (image, status, meta, parameters,
        send payload): the finished image opens in the detail pane."""
        keep = gr.update()
        who = resolve_caller(ctx, request)
        row = payload and store.get(payload["id"], who.owner, who.is_admin)
        if not row:
            yield keep, f"{PROBLEM} click an image first", keep, keep, keep
            return
        try:
            req = request_from_record(row, vary_seed)
        except ValueError as exc:
            yield keep, f"{PROBLEM} {exc}", keep, keep, keep
            return
        with closing(job_stream(ctx, req, request, progress,
                                user_errors=USER_ERRORS + (ValueError,))) as events:
            for event in events:
                if isinstance(event, Preview):
                    yield event.image, f"Preview at step {event.step}/{event.total}", keep, \
                        keep, keep
                    continue
                if not event.saved:
                    yield keep, "Stopped before an image was finished.", keep, keep, keep
                    return
                new = store.get(event.saved[0].id, who.owner, who.is_admin)
                path = str(event.saved[0].path)
                yield path, f"New image #{new.id} (seed {event.result.images[0].seed}).", \
                    describe(store, new), new.infotext, \
                    fields_from_record(new, path) | {"id": new.id}

    def rerun_same_seed(payload, request: gr.Request = None, progress=gr.Progress()):
        yield from rerun_job(payload, False, request, progress)

    def rerun_vary_seed(payload, request: gr.Request = None, progress=gr.Progress()):
        yield from rerun_job(payload, True, request, progress)

    private = dict(api_visibility="private")

    def then_reload(event, status, seconds=6):
        """After an action: the page again (unless refused), then the status line clears
        itself."""
        event.then(reload_after, filters + [page, selection, status], outputs, **private) \
            .then(None, None, status, js=clear_after(seconds), **private)

    refresh.click(this_page, filters + [page], outputs, **private)
    text.submit(first_page, filters, outputs, **private)
    for widget in (mode, model, size, board, starred, sort):
        widget.input(first_page, filters, outputs, **private)
    prev_btn.click(prev_page, filters + [page], outputs, **private)
    next_btn.click(next_page, filters + [page], outputs, **private)
    gallery.select(show, [ids, picking, selection, items],
                   [full, meta, info, send.payload, selection, gallery, one_confirm], **private)
    select_all.click(lambda row_ids, plain: (row_ids, marked(plain, row_ids, row_ids)),
                     [ids, items], [selection, gallery], **private)
    select_none.click(lambda row_ids, plain: ([], marked(plain, row_ids, [])),
                      [ids, items], [selection, gallery], **private)
    selection.input(lambda row_ids, plain, sel: marked(plain, row_ids, sel),
                    [ids, items, selection], gallery, **private)

    then_reload(star_sel.click(act(star_on), selection, bulk_status, **private), bulk_status)
    then_reload(unstar_sel.click(act(star_off), selection, bulk_status, **private),
                bulk_status)
    delete_sel.click(act(ask_many, 3), selection,
                     [bulk_status, many_confirm, many_question, pending_many], **private) \
        .then(None, None, bulk_status, js=clear_after(6), **private)
    then_reload(many_yes.click(act(delete_many, 2), pending_many,
                               [bulk_status, many_confirm, pending_many], **private),
                bulk_status)
    many_no.click(lambda: (gr.Row(visible=False), [], "Nothing deleted."), None,
                  [many_confirm, pending_many, bulk_status], **private) \
        .then(None, None, bulk_status, js=clear_after(6), **private)

    then_reload(star_one.click(act(toggle_one, 1), send.payload, [item_status, meta],
                               **private), item_status)
    delete_one.click(act(ask_one, 3), send.payload,
                     [item_status, one_confirm, one_question, pending_one], **private) \
        .then(None, None, item_status, js=clear_after(6), **private)
    then_reload(one_yes.click(act(delete_one_fn, 6), pending_one,
                              [item_status, full, meta, info, send.payload, one_confirm,
                               pending_one], **private), item_status)
    one_no.click(lambda: (gr.Row(visible=False), None, "Nothing deleted."), None,
                 [one_confirm, pending_one, item_status], **private) \
        .then(None, None, item_status, js=clear_after(6), **private)

    then_reload(add_board.click(act2(lambda o, a, b, s: to_board(o, a, b, s, True)),
                                [target_board, selection], board_status, **private),
                board_status)
    then_reload(off_board.click(act2(lambda o, a, b, s: to_board(o, a, b, s, False)),
                                [target_board, selection], board_status, **private),
                board_status)
    then_reload(create_board.click(act(make_board, 1), new_board, [board_status, new_board],
                                   **private), board_status)
    then_reload(drop_board.click(act(remove_board), target_board, board_status, **private),
                board_status)
    export_btn.click(act(export, 1), selection, [board_status, export_file], **private) \
        .then(None, None, board_status, js=clear_after(10), **private)
    # an import's report is longer: it stays a while longer
    then_reload(import_btn.click(act(run_import), import_dir, import_status, **private),
                import_status, seconds=30)
    # like the tabs: the device queue (ctx.jobs) orders the jobs, Gradio does not hold them
    gpu = dict(concurrency_limit=None, **private)
    rerun_outputs = [full, item_status, meta, info, send.payload]
    then_reload(rerun.click(rerun_same_seed, send.payload, rerun_outputs, **gpu), item_status)
    then_reload(vary.click(rerun_vary_seed, send.payload, rerun_outputs, **gpu), item_status)

    def initial(request: gr.Request = None):
        """The first page with no filters (tab opened, app loaded)."""
        return load_page("", ANY, ANY, ANY, False, ANY, "Newest first", "", "", 0, request)

    return GalleryTab(initial, outputs, send)
