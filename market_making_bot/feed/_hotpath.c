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

#define PRICE_SCALE 10000
#define TS_MS_MIN 946684800000LL
#define TS_MS_MAX 4102444800000LL

static PyObject *delta_cls = NULL; /* OrderbookDelta, from setup() */
static PyObject *kwnames = NULL;   /* the keyword names of its constructor call */
static PyObject *s_yes, *s_no, *s_has_snapshot, *s_sid, *s_book, *s_p_yes, *s_p_no, *s_levels, *s_best,
    *s_last_recv_ns, *s_spread, *s_current;

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

static PyObject *opt_int(int seen, int bit, int64_t v) {
    if (seen & bit) return PyLong_FromLongLong(v);
    Py_RETURN_NONE;
}

static PyObject *build_msg(const Delta *d) {
    /* OrderbookDelta(sid=, seq=, id=, sending_ts_ms=, market_ticker=, side=, price=, delta=, ts_ms=, clock=,
     * client_order_id=): msgspec's vectorcall constructor. */
    PyObject *args[11];
    int i;
    args[0] = opt_int(d->seen, F_SID, d->sid);
    args[1] = opt_int(d->seen, F_SEQ, d->seq);
    args[2] = opt_int(d->seen, F_ID, d->id);
    args[3] = opt_int(d->seen, F_SENT, d->sent);
    args[4] = PyUnicode_FromStringAndSize(d->ticker, d->ticker_len);
    args[5] = d->side_yes ? s_yes : s_no;
    Py_INCREF(args[5]);
    args[6] = PyLong_FromLong(d->price);
    args[7] = PyLong_FromLongLong(d->delta);
    args[8] = PyLong_FromLongLong(d->ts_ms);
    args[9] = opt_int(d->seen, F_CLOCK, d->clock);
    if (d->seen & F_COID) {
        args[10] = PyUnicode_FromStringAndSize(d->coid, d->coid_len);
    } else {
        args[10] = Py_None;
        Py_INCREF(Py_None);
    }
    PyObject *msg = NULL;
    for (i = 0; i < 11; i++)
        if (args[i] == NULL) goto done;
    msg = PyObject_Vectorcall(delta_cls, args, 0, kwnames);
done:
    for (i = 0; i < 11; i++) Py_XDECREF(args[i]);
    return msg;
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

/* Returns 1 if the simple case was applied (*size_out, *spread_out set: spread new ref), 0 if not the simple case
 * (nothing changed), -1 on error. */
static int apply(PyObject *msg, const Delta *d, PyObject *recv_ns, PyObject *last_seq, PyObject *markets,
                 int64_t *size_out, PyObject **spread_out, PyObject **market_out) {
    if (!(d->seen & F_SID) || !(d->seen & F_SEQ)) return 0;
    PyObject *sid = PyLong_FromLongLong(d->sid);
    if (sid == NULL) return -1;
    int result = 0;
    PyObject *market = NULL, *msid = NULL, *has = NULL, *book = NULL, *ladder = NULL, *levels = NULL;
    PyObject *price = NULL, *newsize = NULL, *yes_l = NULL, *no_l = NULL, *yb = NULL, *nb = NULL, *seqo = NULL;
    PyObject *last = PyDict_GetItemWithError(last_seq, sid); /* borrowed */
    if (last == NULL) {
        result = PyErr_Occurred() ? -1 : 0;
        goto out;
    }
    if (!PyLong_CheckExact(last)) goto out;
    {
        int overflow = 0;
        long long lv = PyLong_AsLongLongAndOverflow(last, &overflow);
        if (overflow || lv != d->seq - 1) {
            if (lv == -1 && PyErr_Occurred()) result = -1;
            goto out;
        }
    }
    PyObject *ticker = PyObject_GetAttrString(msg, "market_ticker");
    if (ticker == NULL) {
        result = -1;
        goto out;
    }
    market = PyDict_GetItemWithError(markets, ticker); /* borrowed */
    Py_DECREF(ticker);
    if (market == NULL) {
        result = PyErr_Occurred() ? -1 : 0;
        goto out;
    }
    Py_INCREF(market);
    has = PyObject_GetAttr(market, s_has_snapshot);
    if (has == NULL) {
        result = -1;
        goto out;
    }
    if (has != Py_True) goto out;
    msid = PyObject_GetAttr(market, s_sid);
    if (msid == NULL) {
        result = -1;
        goto out;
    }
    {
        int eq = PyObject_RichCompareBool(msid, sid, Py_EQ);
        if (eq <= 0) {
            result = eq < 0 ? -1 : 0;
            goto out;
        }
    }
    book = PyObject_GetAttr(market, s_book);
    if (book == NULL) goto fail;
    yes_l = PyObject_GetAttr(book, s_p_yes);
    no_l = yes_l ? PyObject_GetAttr(book, s_p_no) : NULL;
    if (no_l == NULL) goto fail;
    ladder = d->side_yes ? yes_l : no_l;
    levels = PyObject_GetAttr(ladder, s_levels);
    if (levels == NULL) goto fail;
    if (!PyDict_CheckExact(levels)) goto out;
    price = PyLong_FromLong(d->price);
    if (price == NULL) goto fail;
    int64_t size;
    {
        PyObject *cur = PyDict_GetItemWithError(levels, price); /* borrowed */
        int64_t have = 0;
        if (cur == NULL) {
            if (PyErr_Occurred()) goto fail;
        } else {
            int overflow = 0;
            if (!PyLong_CheckExact(cur)) goto out;
            have = PyLong_AsLongLongAndOverflow(cur, &overflow);
            if (overflow) goto out;
            if (have == -1 && PyErr_Occurred()) goto fail;
        }
        if (__builtin_add_overflow(have, d->delta, &size)) goto out;
    }
    /* From here on the frame is applied: the sequence, the receive time, the level, the best bid. */
    seqo = PyLong_FromLongLong(d->seq);
    if (seqo == NULL || PyDict_SetItem(last_seq, sid, seqo) < 0) goto fail;
    if (PyObject_SetAttr(market, s_last_recv_ns, recv_ns) < 0) goto fail;
    if (size > 0) {
        newsize = PyLong_FromLongLong(size);
        if (newsize == NULL || PyDict_SetItem(levels, price, newsize) < 0) goto fail;
        PyObject *best = PyObject_GetAttr(ladder, s_best);
        if (best == NULL) goto fail;
        int up = best == Py_None;
        if (!up) {
            up = PyObject_RichCompareBool(price, best, Py_GT);
        }
        Py_DECREF(best);
        if (up < 0) goto fail;
        if (up && PyObject_SetAttr(ladder, s_best, price) < 0) goto fail;
    } else {
        PyObject *cur = PyDict_GetItemWithError(levels, price);
        if (cur == NULL && PyErr_Occurred()) goto fail;
        if (cur != NULL) {
            if (PyDict_DelItem(levels, price) < 0) goto fail;
            PyObject *best = PyObject_GetAttr(ladder, s_best);
            if (best == NULL) goto fail;
            int was_best = best != Py_None && PyObject_RichCompareBool(price, best, Py_EQ);
            Py_DECREF(best);
            if (was_best < 0) goto fail;
            if (was_best) {
                PyObject *next = max_key(levels);
                if (next == NULL) goto fail;
                int rc = PyObject_SetAttr(ladder, s_best, next);
                Py_DECREF(next);
                if (rc < 0) goto fail;
            }
        }
    }
    /* The spread: YES ask - YES bid = PRICE_SCALE - best NO bid - best YES bid, None if a ladder is empty. */
    yb = PyObject_GetAttr(yes_l, s_best);
    nb = yb ? PyObject_GetAttr(no_l, s_best) : NULL;
    if (nb == NULL) goto fail;
    if (yb == Py_None || nb == Py_None) {
        *spread_out = Py_None;
        Py_INCREF(Py_None);
    } else {
        long y = PyLong_AsLong(yb), n = PyLong_AsLong(nb);
        if ((y == -1 || n == -1) && PyErr_Occurred()) goto fail;
        *spread_out = PyLong_FromLong(PRICE_SCALE - n - y);
        if (*spread_out == NULL) goto fail;
    }
    *size_out = size;
    *market_out = market;
    market = NULL;
    result = 1;
    goto out;
fail:
    result = -1;
out:
    Py_DECREF(sid);
    Py_XDECREF(market);
    Py_XDECREF(msid);
    Py_XDECREF(has);
    Py_XDECREF(book);
    Py_XDECREF(yes_l);
    Py_XDECREF(no_l);
    Py_XDECREF(levels);
    Py_XDECREF(price);
    Py_XDECREF(newsize);
    Py_XDECREF(yb);
    Py_XDECREF(nb);
    Py_XDECREF(seqo);
    return result;
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
    PyObject *msg = build_msg(&d);
    if (msg == NULL) return NULL;
    int applied = 0;
    int64_t size = 0;
    PyObject *spread = NULL, *market = NULL;
    if (PyObject_IsTrue(args[4]) && PyDict_CheckExact(args[2]) && PyDict_CheckExact(args[3])) {
        applied = apply(msg, &d, args[1], args[2], args[3], &size, &spread, &market);
        if (applied < 0) {
            Py_DECREF(msg);
            return NULL;
        }
    }
    if (!applied) {
        PyObject *t = PyTuple_Pack(1, msg);
        Py_DECREF(msg);
        return t;
    }
    /* Done unless the spread changed (its statistics are updated in Python: rare) or there is a problem. */
    PyObject *stats = PyObject_GetAttr(market, s_spread);
    Py_DECREF(market);
    PyObject *current = stats ? PyObject_GetAttr(stats, s_current) : NULL;
    Py_XDECREF(stats);
    if (current == NULL) {
        Py_DECREF(msg);
        Py_DECREF(spread);
        return NULL;
    }
    int same = PyObject_RichCompareBool(spread, current, Py_EQ);
    Py_DECREF(current);
    if (same < 0) {
        Py_DECREF(msg);
        Py_DECREF(spread);
        return NULL;
    }
    int crossed = 0;
    if (spread != Py_None) crossed = PyLong_AsLong(spread) <= 0;
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

static PyObject *hot_setup(PyObject *Py_UNUSED(self), PyObject *cls) {
    Py_XDECREF(delta_cls);
    Py_INCREF(cls);
    delta_cls = cls;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"delta", (PyCFunction)(void (*)(void))hot_delta, METH_FASTCALL, "The delta path in C (see the module source)."},
    {"setup", hot_setup, METH_O, "setup(OrderbookDelta): the message class to build."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hotpath", "The compiled delta path (issue 17).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__hotpath(void) {
    kwnames = Py_BuildValue("(sssssssssss)", "sid", "seq", "id", "sending_ts_ms", "market_ticker", "side", "price",
                            "delta", "ts_ms", "clock", "client_order_id");
    if (kwnames == NULL) return NULL;
#define INTERN(var, text)                                                                                              \
    if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL
    INTERN(s_yes, "yes");
    INTERN(s_no, "no");
    INTERN(s_has_snapshot, "has_snapshot");
    INTERN(s_sid, "sid");
    INTERN(s_book, "book");
    INTERN(s_p_yes, "_yes");
    INTERN(s_p_no, "_no");
    INTERN(s_levels, "levels");
    INTERN(s_best, "best");
    INTERN(s_last_recv_ns, "last_recv_ns");
    INTERN(s_spread, "spread");
    INTERN(s_current, "current");
    return PyModule_Create(&module);
}
