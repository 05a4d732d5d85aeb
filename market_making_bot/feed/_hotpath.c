/* The compiled twin of the delta path of ``Core.feed`` (issue 17): scan, exact fixed-point parse, sequence check,
 * integer book update and spread of one ``orderbook_delta`` frame, in one C call.
 *
 * The pure-Python code (``kalshi.decode.decode_frame``, ``Core.feed``, ``OrderBook.apply_delta``) is the reference:
 * this module only takes the frames whose shape it knows exactly and returns ``None`` for anything else (another
 * type, a key it does not know, an escape in a string, a non-canonical number, ...), before changing anything, so
 * that the pure path decides. tests/test_hotpath_twin.py feeds a million frames to both and compares every event
 * and the final state.
 *
 * delta(data, recv_ns, last_seq, markets, apply) ->
 *     None            not a canonical delta frame: nothing was done, use the pure path;
 *     (msg,)          decoded only (``apply`` false, or the delta is not the simple case): the pure path goes on
 *                     from the decoded message;
 *     msg             decoded, sequence-checked (the next seq of its sid), applied to its market's book
 *                     (``market.last_recv_ns`` set), and the spread is unchanged with no problem: done;
 *     (msg, size, spread)  as above, but the spread changed or the delta left a negative level or a crossed book:
 *                     the caller finishes (``Core._delta_tail``).
 *
 * The objects are the pure path's own (dicts, ``MarketState``, ``OrderBook`` and its ``_Ladder``s): no state lives
 * here, so both paths can be mixed frame by frame.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h> /* PyMemberDef (3.10, 3.11; in Python.h from 3.12 on) */

#define PRICE_SCALE 10000
#define TS_MS_MIN 946684800000LL
#define TS_MS_MAX 4102444800000LL

static PyObject *delta_cls = NULL; /* OrderbookDelta, from setup() */
static PyObject *kwnames = NULL;   /* its field names, in the order of build_msg */
static PyObject *s_yes, *s_no;

/* ---------------------------------------------------------------------------------------------------------------
 * Scanner: a tiny JSON reader for the one shape. Every function returns 0 on success, -1 for "not this shape". */

typedef struct {
    const char *p;
    const char *end;
} Scan;

static inline void ws(Scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static inline int expect(Scan *s, char c) {
    ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 0;
    }
    return -1;
}

/* A string of printable ASCII without escapes: [start, start + len). */
static inline int string(Scan *s, const char **start, Py_ssize_t *len) {
    ws(s);
    if (s->p >= s->end || *s->p != '"') return -1;
    const char *q = ++s->p;
    while (q < s->end) {
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            *start = s->p;
            *len = q - s->p;
            s->p = q + 1;
            return 0;
        }
        if (c == '\\' || c < 0x20 || c >= 0x80) return -1; /* escapes, control characters, non-ASCII: pure path */
        q++;
    }
    return -1;
}

/* A JSON integer 0 .. 10^18 - 1 (no sign, no leading zero, no fraction or exponent). */
static inline int integer(Scan *s, int64_t *out) {
    ws(s);
    const char *q = s->p;
    if (q >= s->end || *q < '0' || *q > '9') return -1;
    if (*q == '0' && q + 1 < s->end && q[1] >= '0' && q[1] <= '9') return -1;
    int64_t v = 0;
    int n = 0;
    while (q < s->end && *q >= '0' && *q <= '9') {
        v = v * 10 + (*q - '0');
        q++;
        if (++n > 18) return -1;
    }
    if (q < s->end && (*q == '.' || *q == 'e' || *q == 'E')) return -1;
    *out = v;
    s->p = q;
    return 0;
}

static inline int key_is(const char *k, Py_ssize_t n, const char *name) {
    return (Py_ssize_t)strlen(name) == n && memcmp(k, name, (size_t)n) == 0;
}

/* "0.dddd" strictly between $0 and $1 (``parse_book_price`` on the canonical shape). */
static int book_price(const char *t, Py_ssize_t n, long *out) {
    if (n != 6 || t[0] != '0' || t[1] != '.') return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        if (t[i] < '0' || t[i] > '9') return -1;
        v = v * 10 + (t[i] - '0');
    }
    if (v <= 0 || v >= PRICE_SCALE) return -1;
    *out = v;
    return 0;
}

/* "-?d{1,12}.dd" (``parse_size_fp`` on the canonical shape; at most 12 whole digits stays inside MAX_CONTRACTS). */
static int size_fp(const char *t, Py_ssize_t n, int64_t *out) {
    int neg = 0;
    if (n > 0 && t[0] == '-') {
        neg = 1;
        t++;
        n--;
    }
    if (n < 4 || n > 15 || t[n - 3] != '.') return -1;
    int64_t v = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i == n - 3) continue;
        if (t[i] < '0' || t[i] > '9') return -1;
        v = v * 10 + (t[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

enum {
    F_SID = 1, F_SEQ = 2, F_ID = 4, F_SENT = 8, F_TICKER = 16, F_SIDE = 32, F_PRICE = 64, F_DELTA = 128,
    F_TSMS = 256, F_CLOCK = 512, F_COID = 1024, F_MARKET_ID = 2048, F_TS = 4096, F_TYPE = 8192, F_MSG = 16384
};

typedef struct {
    int64_t sid, seq, id, sent, ts_ms, clock, delta;
    long price;
    int side_yes;
    const char *ticker, *coid;
    Py_ssize_t ticker_len, coid_len;
    int seen;
} Delta;

static int scan_body(Scan *s, Delta *d) {
    if (expect(s, '{')) return -1;
    ws(s);
    if (s->p < s->end && *s->p == '}') return -1; /* an empty body misses the required fields */
    for (;;) {
        const char *k, *v;
        Py_ssize_t kn, vn;
        int bit;
        if (string(s, &k, &kn) || expect(s, ':')) return -1;
        if (key_is(k, kn, "market_ticker")) {
            bit = F_TICKER;
            if (string(s, &d->ticker, &d->ticker_len)) return -1;
        } else if (key_is(k, kn, "price_dollars")) {
            bit = F_PRICE;
            if (string(s, &v, &vn) || book_price(v, vn, &d->price)) return -1;
        } else if (key_is(k, kn, "delta_fp")) {
            bit = F_DELTA;
            if (string(s, &v, &vn) || size_fp(v, vn, &d->delta)) return -1;
        } else if (key_is(k, kn, "side")) {
            bit = F_SIDE;
            if (string(s, &v, &vn)) return -1;
            if (key_is(v, vn, "yes")) d->side_yes = 1;
            else if (key_is(v, vn, "no")) d->side_yes = 0;
            else return -1;
        } else if (key_is(k, kn, "ts_ms")) {
            bit = F_TSMS;
            if (integer(s, &d->ts_ms) || d->ts_ms < TS_MS_MIN || d->ts_ms > TS_MS_MAX) return -1;
        } else if (key_is(k, kn, "clock")) {
            bit = F_CLOCK;
            if (integer(s, &d->clock)) return -1;
        } else if (key_is(k, kn, "market_id")) {
            bit = F_MARKET_ID;
            if (string(s, &v, &vn)) return -1;
        } else if (key_is(k, kn, "ts")) {
            bit = F_TS;
            if (string(s, &v, &vn)) return -1;
        } else if (key_is(k, kn, "client_order_id")) {
            bit = F_COID;
            if (string(s, &d->coid, &d->coid_len)) return -1;
        } else {
            return -1; /* legacy integer fields, nulls, anything else: the pure path */
        }
        if (d->seen & bit) return -1; /* a repeated key */
        d->seen |= bit;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (expect(s, '}')) return -1;
        return 0;
    }
}

static int scan(const char *buf, Py_ssize_t n, Delta *d) {
    Scan s = {buf, buf + n};
    if (expect(&s, '{')) return -1;
    for (;;) {
        const char *k, *v;
        Py_ssize_t kn, vn;
        int bit;
        if (string(&s, &k, &kn) || expect(&s, ':')) return -1;
        if (key_is(k, kn, "type")) {
            bit = F_TYPE;
            if (string(&s, &v, &vn) || !key_is(v, vn, "orderbook_delta")) return -1;
        } else if (key_is(k, kn, "sid")) {
            bit = F_SID;
            if (integer(&s, &d->sid)) return -1;
        } else if (key_is(k, kn, "seq")) {
            bit = F_SEQ;
            if (integer(&s, &d->seq)) return -1;
        } else if (key_is(k, kn, "id")) {
            bit = F_ID;
            if (integer(&s, &d->id)) return -1;
        } else if (key_is(k, kn, "sending_ts_ms")) {
            bit = F_SENT;
            if (integer(&s, &d->sent) || d->sent < TS_MS_MIN || d->sent > TS_MS_MAX) return -1;
        } else if (key_is(k, kn, "msg")) {
            bit = F_MSG;
            if (d->seen & F_MSG) return -1;
            if (scan_body(&s, d)) return -1;
        } else {
            return -1;
        }
        if (d->seen & bit & ~F_MSG) return -1;
        d->seen |= bit;
        ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            continue;
        }
        if (expect(&s, '}')) return -1;
        ws(&s);
        if (s.p != s.end) return -1; /* trailing characters */
        break;
    }
    int need = F_TYPE | F_MSG | F_TICKER | F_SIDE | F_PRICE | F_DELTA | F_TSMS; /* no ts_ms: the pure path reads ts */
    return (d->seen & need) == need ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The message and the book. */

/* ---------------------------------------------------------------------------------------------------------------
 * Objects. The message and the state objects are read and written through their slots' offsets (each field of a
 * msgspec Struct or a ``__slots__`` class is a member descriptor with an offset), found once by setup() and checked
 * there: a class whose field is not such a slot is never handled here (setup() fails, hotpath.py falls back to the
 * pure path). This replaces an attribute lookup per field (20 to 40 ns each) with a load. */

#ifndef Py_READONLY
#define Py_READONLY 1 /* READONLY of structmember.h */
#endif
#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX 16 /* T_OBJECT_EX of structmember.h, the type of a __slots__ member */
#endif

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

static PyTypeObject *market_type, *book_type, *ladder_type, *stats_type;
static Py_ssize_t off_msg[11];
static Py_ssize_t off_has_snapshot, off_sid, off_book, off_last_recv_ns, off_spread, off_yes, off_no, off_levels,
    off_best, off_current;

static Py_ssize_t slot_offset(PyObject *type, const char *name) {
    PyObject *d = PyObject_GetAttrString(type, name);
    if (d == NULL) return -1;
    Py_ssize_t off = -1;
    if (Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type == Py_T_OBJECT_EX && !(m->flags & Py_READONLY)) off = m->offset;
    }
    Py_DECREF(d);
    if (off < 0) PyErr_Format(PyExc_TypeError, "%R.%s is not a writable slot", type, name);
    return off;
}

static PyObject *opt_int(int seen, int bit, int64_t v) {
    if (seen & bit) return PyLong_FromLongLong(v);
    Py_RETURN_NONE;
}

/* OrderbookDelta(sid=, seq=, id=, sending_ts_ms=, market_ticker=, side=, price=, delta=, ts_ms=, clock=,
 * client_order_id=), built the way msgspec builds a Struct (allocate, zero the slots, store the fields): its keyword
 * constructor costs about 250 ns, most of this function. ``ticker`` is stolen. */
static PyObject *build_msg(const Delta *d, PyObject *ticker) {
    PyObject *v[11];
    int i;
    v[0] = opt_int(d->seen, F_SID, d->sid);
    v[1] = opt_int(d->seen, F_SEQ, d->seq);
    v[2] = opt_int(d->seen, F_ID, d->id);
    v[3] = opt_int(d->seen, F_SENT, d->sent);
    v[4] = ticker;
    v[5] = d->side_yes ? s_yes : s_no;
    Py_INCREF(v[5]);
    v[6] = PyLong_FromLong(d->price);
    v[7] = PyLong_FromLongLong(d->delta);
    v[8] = PyLong_FromLongLong(d->ts_ms);
    v[9] = opt_int(d->seen, F_CLOCK, d->clock);
    if (d->seen & F_COID) {
        v[10] = PyUnicode_FromStringAndSize(d->coid, d->coid_len);
    } else {
        v[10] = Py_None;
        Py_INCREF(Py_None);
    }
    for (i = 0; i < 11; i++)
        if (v[i] == NULL) goto fail;
    PyTypeObject *tp = (PyTypeObject *)delta_cls;
    PyObject *msg = PyObject_New(PyObject, tp);
    if (msg == NULL) goto fail;
    memset((char *)msg + sizeof(PyObject), 0, (size_t)(tp->tp_basicsize - (Py_ssize_t)sizeof(PyObject)));
    for (i = 0; i < 11; i++) SLOT(msg, off_msg[i]) = v[i]; /* the references move into the message */
    return msg;
fail:
    for (i = 0; i < 11; i++) Py_XDECREF(v[i]);
    return NULL;
}

/* The next best bid after the best level was removed: max(levels), or None. New reference, NULL on error. */
static PyObject *max_key(PyObject *levels) {
    PyObject *key, *value, *best = NULL;
    Py_ssize_t pos = 0;
    while (PyDict_Next(levels, &pos, &key, &value)) {
        if (best == NULL) {
            best = key;
        } else {
            int gt = PyObject_RichCompareBool(key, best, Py_GT);
            if (gt < 0) return NULL;
            if (gt) best = key;
        }
    }
    if (best == NULL) Py_RETURN_NONE;
    Py_INCREF(best);
    return best;
}

static inline void set_slot(PyObject *obj, Py_ssize_t off, PyObject *value) {
    PyObject *old = SLOT(obj, off);
    Py_INCREF(value);
    SLOT(obj, off) = value;
    Py_XDECREF(old);
}

/* An exact int that fits a long long, into *out: 1; anything else: 0 (an error is cleared: not the simple case). */
static inline int small_int(PyObject *o, long long *out) {
    if (o == NULL || !PyLong_CheckExact(o)) return 0;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow) return 0;
    if (*out == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* The simple case of ``Core.feed``'s delta fast path and ``Core._on_delta`` (see core.py): 1 applied (*size_out,
 * *spread_out (new reference), *market_out (borrowed) set), 0 not the simple case (nothing changed), -1 error. Every
 * check comes before the first change. */
static int apply(const Delta *d, PyObject *ticker, PyObject *recv_ns, PyObject *last_seq, PyObject *markets,
                 int64_t *size_out, PyObject **spread_out, PyObject **market_out) {
    if (!(d->seen & F_SID) || !(d->seen & F_SEQ)) return 0;
    PyObject *sid = PyLong_FromLongLong(d->sid);
    if (sid == NULL) return -1;
    long long v;
    PyObject *last = PyDict_GetItemWithError(last_seq, sid); /* borrowed */
    if (last == NULL || !small_int(last, &v) || v != d->seq - 1) goto not_simple;
    PyObject *market = PyDict_GetItemWithError(markets, ticker); /* borrowed */
    if (market == NULL || Py_TYPE(market) != market_type) goto not_simple;
    if (SLOT(market, off_has_snapshot) != Py_True) goto not_simple;
    if (!small_int(SLOT(market, off_sid), &v) || v != d->sid) goto not_simple;
    PyObject *book = SLOT(market, off_book);
    if (book == NULL || Py_TYPE(book) != book_type) goto not_simple;
    PyObject *yes_l = SLOT(book, off_yes), *no_l = SLOT(book, off_no);
    if (yes_l == NULL || no_l == NULL || Py_TYPE(yes_l) != ladder_type || Py_TYPE(no_l) != ladder_type)
        goto not_simple;
    PyObject *stats = SLOT(market, off_spread);
    if (stats == NULL || Py_TYPE(stats) != stats_type || SLOT(stats, off_current) == NULL) goto not_simple;
    PyObject *ladder = d->side_yes ? yes_l : no_l;
    PyObject *levels = SLOT(ladder, off_levels);
    PyObject *yes_best = SLOT(yes_l, off_best), *no_best = SLOT(no_l, off_best), *best = SLOT(ladder, off_best);
    if (levels == NULL || !PyDict_CheckExact(levels) || yes_best == NULL || no_best == NULL) goto not_simple;
    long long best_v = 0;
    if (best != Py_None && !small_int(best, &best_v)) goto not_simple;
    PyObject *price = PyLong_FromLong(d->price);
    if (price == NULL) goto fail;
    PyObject *cur = PyDict_GetItemWithError(levels, price); /* borrowed */
    long long have = 0;
    int64_t size;
    if ((cur == NULL && PyErr_Occurred()) || (cur != NULL && !small_int(cur, &have)) ||
        __builtin_add_overflow((int64_t)have, d->delta, &size)) {
        Py_DECREF(price);
        goto not_simple;
    }
    /* From here on the frame is applied: the sequence, the receive time, the level, the best bid. */
    PyObject *seqo = PyLong_FromLongLong(d->seq);
    if (seqo == NULL) {
        Py_DECREF(price);
        goto fail;
    }
    int rc = PyDict_SetItem(last_seq, sid, seqo);
    Py_DECREF(seqo);
    if (rc < 0) {
        Py_DECREF(price);
        goto fail;
    }
    set_slot(market, off_last_recv_ns, recv_ns);
    if (size > 0) {
        PyObject *newsize = PyLong_FromLongLong(size);
        rc = newsize == NULL ? -1 : PyDict_SetItem(levels, price, newsize);
        Py_XDECREF(newsize);
        if (rc < 0) {
            Py_DECREF(price);
            goto fail;
        }
        if (best == Py_None || d->price > best_v) set_slot(ladder, off_best, price);
    } else if (cur != NULL) {
        if (PyDict_DelItem(levels, price) < 0) {
            Py_DECREF(price);
            goto fail;
        }
        if (best != Py_None && d->price == best_v) {
            PyObject *next = max_key(levels);
            if (next == NULL) {
                Py_DECREF(price);
                goto fail;
            }
            set_slot(ladder, off_best, next);
            Py_DECREF(next);
        }
    }
    Py_DECREF(price);
    /* The spread: YES ask - YES bid = PRICE_SCALE - best NO bid - best YES bid, None if a ladder is empty. */
    yes_best = SLOT(yes_l, off_best);
    no_best = SLOT(no_l, off_best);
    long long y, n;
    if (yes_best == Py_None || no_best == Py_None) {
        Py_INCREF(Py_None);
        *spread_out = Py_None;
    } else if (small_int(yes_best, &y) && small_int(no_best, &n)) {
        *spread_out = PyLong_FromLongLong(PRICE_SCALE - n - y);
        if (*spread_out == NULL) goto fail;
    } else {
        PyErr_SetString(PyExc_TypeError, "a best bid is not an int");
        goto fail;
    }
    *size_out = size;
    *market_out = market;
    Py_DECREF(sid);
    return 1;
not_simple:
    Py_DECREF(sid);
    if (PyErr_Occurred()) return -1;
    return 0;
fail:
    Py_DECREF(sid);
    return -1;
}

static PyObject *hot_delta(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "delta(data, recv_ns, last_seq, markets, apply)");
        return NULL;
    }
    if (delta_cls == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() was not called");
        return NULL;
    }
    PyObject *data = args[0];
    const char *buf;
    Py_ssize_t n;
    if (PyBytes_CheckExact(data)) {
        buf = PyBytes_AS_STRING(data);
        n = PyBytes_GET_SIZE(data);
    } else if (PyUnicode_CheckExact(data) && PyUnicode_IS_COMPACT_ASCII(data)) {
        buf = (const char *)PyUnicode_DATA(data);
        n = PyUnicode_GET_LENGTH(data);
    } else {
        Py_RETURN_NONE;
    }
    Delta d;
    memset(&d, 0, sizeof d);
    if (scan(buf, n, &d)) Py_RETURN_NONE;
    PyObject *ticker = PyUnicode_FromStringAndSize(d.ticker, d.ticker_len);
    if (ticker == NULL) return NULL;
    int applied = 0;
    int64_t size = 0;
    PyObject *spread = NULL, *market = NULL;
    if (args[4] == Py_True && PyDict_CheckExact(args[2]) && PyDict_CheckExact(args[3])) {
        applied = apply(&d, ticker, args[1], args[2], args[3], &size, &spread, &market);
        if (applied < 0) {
            Py_DECREF(ticker);
            return NULL;
        }
    }
    PyObject *msg = build_msg(&d, ticker); /* steals ticker */
    if (msg == NULL) {
        Py_XDECREF(spread);
        return NULL;
    }
    if (!applied) {
        PyObject *t = PyTuple_Pack(1, msg);
        Py_DECREF(msg);
        return t;
    }
    /* Done unless the spread changed (its statistics are updated in Python: rare) or there is a problem. */
    PyObject *current = SLOT(SLOT(market, off_spread), off_current);
    int same = PyObject_RichCompareBool(spread, current, Py_EQ);
    if (same < 0) {
        Py_DECREF(msg);
        Py_DECREF(spread);
        return NULL;
    }
    int crossed = spread != Py_None && PyLong_AsLong(spread) <= 0;
    if (same && size >= 0 && !crossed) {
        Py_DECREF(spread);
        return msg;
    }
    PyObject *sizeo = PyLong_FromLongLong(size);
    PyObject *t = sizeo ? PyTuple_Pack(3, msg, sizeo, spread) : NULL;
    Py_XDECREF(sizeo);
    Py_DECREF(msg);
    Py_DECREF(spread);
    return t;
}

/* setup(OrderbookDelta, MarketState, OrderBook, _Ladder, SpreadStats): the classes, and their slots' offsets. */
static PyObject *hot_setup(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *cls, *mt, *bt, *lt, *st;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!", &PyType_Type, &cls, &PyType_Type, &mt, &PyType_Type, &bt, &PyType_Type,
                          &lt, &PyType_Type, &st))
        return NULL;
    if (PyType_HasFeature((PyTypeObject *)cls, Py_TPFLAGS_HAVE_GC)) {
        PyErr_SetString(PyExc_TypeError, "the message class must not be tracked by the GC (gc=False)");
        return NULL;
    }
    for (int i = 0; i < 11; i++) {
        off_msg[i] = slot_offset(cls, PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i)));
        if (off_msg[i] < 0) return NULL;
    }
    if ((off_has_snapshot = slot_offset(mt, "has_snapshot")) < 0 || (off_sid = slot_offset(mt, "sid")) < 0 ||
        (off_book = slot_offset(mt, "book")) < 0 || (off_last_recv_ns = slot_offset(mt, "last_recv_ns")) < 0 ||
        (off_spread = slot_offset(mt, "spread")) < 0 || (off_yes = slot_offset(bt, "_yes")) < 0 ||
        (off_no = slot_offset(bt, "_no")) < 0 || (off_levels = slot_offset(lt, "levels")) < 0 ||
        (off_best = slot_offset(lt, "best")) < 0 || (off_current = slot_offset(st, "current")) < 0)
        return NULL;
    Py_INCREF(cls);
    Py_INCREF(mt);
    Py_INCREF(bt);
    Py_INCREF(lt);
    Py_INCREF(st);
    Py_XSETREF(delta_cls, cls);
    market_type = (PyTypeObject *)mt;
    book_type = (PyTypeObject *)bt;
    ladder_type = (PyTypeObject *)lt;
    stats_type = (PyTypeObject *)st;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"delta", (PyCFunction)(void (*)(void))hot_delta, METH_FASTCALL, "The delta path in C (see the module source)."},
    {"setup", hot_setup, METH_VARARGS, "setup(OrderbookDelta, MarketState, OrderBook, _Ladder, SpreadStats)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hotpath", "The compiled delta path (issue 17).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__hotpath(void) {
    kwnames = Py_BuildValue("(sssssssssss)", "sid", "seq", "id", "sending_ts_ms", "market_ticker", "side", "price",
                            "delta", "ts_ms", "clock", "client_order_id");
    if (kwnames == NULL) return NULL;
    if ((s_yes = PyUnicode_InternFromString("yes")) == NULL) return NULL;
    if ((s_no = PyUnicode_InternFromString("no")) == NULL) return NULL;
    return PyModule_Create(&module);
}
