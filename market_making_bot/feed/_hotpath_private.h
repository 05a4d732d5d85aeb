/* The compiled twin of ``fill`` and ``market_position`` frames (issue 17, item 2): included twice from
 * ``_hotpath.c``, first with ``HOTPATH_PRIVATE_SCAN`` defined (the bodies' scanners, before ``scan``), then without
 * (the paths, before ``frame``).
 *
 * The simple case only, as for tickers and trades: a canonical frame (the shape ``kalshi.decode._fill`` and
 * ``_position`` convert lazily: fixed-point strings of the canonical shape, ``ts_ms`` present, no ``fee_dollars`` or
 * ``price_dollars``, no null, no repeated key, legacy integers only beside their fixed-point field), a known market,
 * nobody listening for ``FillSeen`` / ``PositionChanged``, no seq or the next seq of its sid. Anything else comes back
 * untouched (None) or decoded only (``(msg,)``), and the pure path decides.
 *
 * ``frame`` returns for them: ``msg`` done (``Core._on_fill``: ``last_recv_ns``, ``MarketState.add_fill``: the
 * ``_fill_ids`` dedupe on ``f"{trade_id}/{order_id}"``, the fills deque, ``fill_count``, ``position``; or
 * ``Core._on_position``: ``last_position`` and ``position``), or ``(msg, False)`` for a fill seen before (counted as
 * ``trade_duplicates`` by the caller, as the pure path does). The messages are built eagerly (``_wire`` None): every
 * field reads equal to the pure path's lazy one. Every change that can fail comes before those that cannot, and is
 * undone if a later one fails: a failure (only an allocation can fail) leaves the state as it was. */

#ifdef HOTPATH_PRIVATE_SCAN

enum {
    FL_TICKER = 1, FL_TRADE_ID = 2, FL_ORDER_ID = 4, FL_COID = 8, FL_OUTCOME = 16, FL_PURCHASED = 32, FL_SIDE = 64,
    FL_ACTION = 128, FL_PRICE = 256, FL_COUNT = 512, FL_FEE = 1024, FL_TAKER = 2048, FL_POST = 4096,
    FL_TSMS = 8192, FL_TS = 16384
};

typedef struct {
    const char *ticker, *trade_id, *order_id, *coid, *outcome, *purchased, *side, *action;
    Py_ssize_t ticker_len, trade_id_len, order_id_len, coid_len, outcome_len, purchased_len, side_len, action_len;
    int keys, legacy, is_taker, ts_is_int;
    long price;
    int64_t count, fee, post, ts_ms, ts;
} FillBody;

enum { PS_TICKER = 1, PS_POS = 2, PS_COST = 4, PS_PNL = 8, PS_FEES = 16, PS_FEE_COST = 32, PS_VOLUME = 64 };

typedef struct {
    const char *ticker;
    Py_ssize_t ticker_len;
    int keys, legacy;
    int64_t position, money[4], volume; /* money: position_cost, realized_pnl, fees_paid, position_fee_cost */
} PositionBody;

/* Money "-?d{1,12}.dddddd" (``_MONEY_SHAPE``: any string of it is valid and its value is the integer of its
 * digits, 18 at most: inside int64). */
static int money_text(const char *t, Py_ssize_t n, int64_t *out) {
    int neg = 0;
    if (n > 0 && t[0] == '-') {
        neg = 1;
        t++;
        n--;
    }
    if (n < 8 || n > 19 || t[n - 7] != '.') return -1;
    int64_t v = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i == n - 7) continue;
        if (t[i] < '0' || t[i] > '9') return -1;
        v = v * 10 + (t[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

static int money_field(Scan *s, int64_t *out) {
    const char *v;
    Py_ssize_t vn;
    return string(s, &v, &vn) || money_text(v, vn, out) ? -1 : 0;
}

/* A signed size string of the canonical shape (a position, ``post_position_fp``). */
static int signed_size_field(Scan *s, int64_t *out) {
    const char *v;
    Py_ssize_t vn;
    return string(s, &v, &vn) || size_fp(v, vn, out) ? -1 : 0;
}

/* A legacy integer (signed: msgspec's ``int``) beside its fixed-point field, which wins; ``bit`` into *legacy (the
 * fixed-point field must then be there, checked at the end of the body). */
static int legacy_signed(Scan *s, int *legacy, int bit) {
    int64_t v;
    ws(s);
    if (s->p < s->end && *s->p == '-') s->p++;
    if (integer(s, &v) || (*legacy & bit)) return -1;
    *legacy |= bit;
    return 0;
}

static int str_field(Scan *s, const char **p, Py_ssize_t *n) { return string(s, p, n); }

static int scan_fill(Scan *s, FillBody *b) {
    memset(b, 0, sizeof *b);
    if (expect(s, '{')) return -1;
    ws(s);
    if (s->p < s->end && *s->p == '}') return -1;
    for (;;) {
        const char *k, *v;
        Py_ssize_t kn, vn;
        int bit = 0, rc;
        if (string(s, &k, &kn) || expect(s, ':')) return -1;
        if (key_is(k, kn, "market_ticker")) {
            bit = FL_TICKER;
            rc = str_field(s, &b->ticker, &b->ticker_len);
        } else if (key_is(k, kn, "trade_id")) {
            bit = FL_TRADE_ID;
            rc = str_field(s, &b->trade_id, &b->trade_id_len);
        } else if (key_is(k, kn, "order_id")) {
            bit = FL_ORDER_ID;
            rc = str_field(s, &b->order_id, &b->order_id_len);
        } else if (key_is(k, kn, "client_order_id")) {
            bit = FL_COID;
            rc = str_field(s, &b->coid, &b->coid_len);
        } else if (key_is(k, kn, "outcome_side")) {
            bit = FL_OUTCOME;
            rc = str_field(s, &b->outcome, &b->outcome_len);
        } else if (key_is(k, kn, "purchased_side")) {
            bit = FL_PURCHASED;
            rc = str_field(s, &b->purchased, &b->purchased_len);
        } else if (key_is(k, kn, "side")) {
            bit = FL_SIDE;
            rc = str_field(s, &b->side, &b->side_len);
        } else if (key_is(k, kn, "action")) {
            bit = FL_ACTION;
            rc = str_field(s, &b->action, &b->action_len);
        } else if (key_is(k, kn, "yes_price_dollars")) {
            bit = FL_PRICE;
            rc = string(s, &v, &vn) || book_price(v, vn, &b->price);
        } else if (key_is(k, kn, "count_fp")) {
            bit = FL_COUNT;
            rc = size_field(s, &b->count);
        } else if (key_is(k, kn, "fee_cost")) {
            bit = FL_FEE;
            rc = money_field(s, &b->fee);
        } else if (key_is(k, kn, "is_taker")) {
            bit = FL_TAKER;
            ws(s);
            Py_ssize_t left = s->end - s->p;
            if (left >= 4 && memcmp(s->p, "true", 4) == 0) {
                b->is_taker = 1;
                s->p += 4;
                rc = 0;
            } else if (left >= 5 && memcmp(s->p, "false", 5) == 0) {
                b->is_taker = 0;
                s->p += 5;
                rc = 0;
            } else {
                rc = -1; /* null, or anything else: the pure path */
            }
        } else if (key_is(k, kn, "post_position_fp")) {
            bit = FL_POST;
            rc = signed_size_field(s, &b->post);
        } else if (key_is(k, kn, "ts_ms")) {
            bit = FL_TSMS;
            rc = integer(s, &b->ts_ms) || b->ts_ms < TS_MS_MIN || b->ts_ms > TS_MS_MAX;
        } else if (key_is(k, kn, "ts")) {
            bit = FL_TS;
            rc = ts_field(s, &b->ts, &b->ts_is_int);
        } else if (key_is(k, kn, "yes_price")) {
            rc = legacy_signed(s, &b->legacy, FL_PRICE);
        } else if (key_is(k, kn, "count")) {
            rc = legacy_signed(s, &b->legacy, FL_COUNT);
        } else if (key_is(k, kn, "post_position")) {
            rc = legacy_signed(s, &b->legacy, FL_POST);
        } else if (key_is(k, kn, "price_dollars") || key_is(k, kn, "fee_dollars")) {
            rc = -1; /* the seed README's notations (floats too): the pure path */
        } else {
            rc = skip_simple(s); /* exchange_index, book_side, ...: not in the wire struct */
        }
        if (rc) return -1;
        if (b->keys & bit) return -1; /* a repeated key */
        b->keys |= bit;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (expect(s, '}')) return -1;
        /* ``_fill``'s lazy shape: a price, a count string and ts_ms (a fill without them is converted at once) */
        int need = FL_TICKER | FL_PRICE | FL_COUNT | FL_TSMS;
        if ((b->keys & need) != need || (b->legacy & ~b->keys)) return -1;
        return 0;
    }
}

static int scan_position(Scan *s, PositionBody *b) {
    memset(b, 0, sizeof *b);
    if (expect(s, '{')) return -1;
    ws(s);
    if (s->p < s->end && *s->p == '}') return -1;
    for (;;) {
        const char *k, *v;
        Py_ssize_t kn, vn;
        int bit = 0, rc;
        if (string(s, &k, &kn) || expect(s, ':')) return -1;
        if (key_is(k, kn, "market_ticker")) {
            bit = PS_TICKER;
            rc = string(s, &b->ticker, &b->ticker_len);
        } else if (key_is(k, kn, "position_fp")) {
            bit = PS_POS;
            rc = signed_size_field(s, &b->position);
        } else if (key_is(k, kn, "position_cost_dollars")) {
            bit = PS_COST;
            rc = money_field(s, &b->money[0]);
        } else if (key_is(k, kn, "realized_pnl_dollars")) {
            bit = PS_PNL;
            rc = money_field(s, &b->money[1]);
        } else if (key_is(k, kn, "fees_paid_dollars")) {
            bit = PS_FEES;
            rc = money_field(s, &b->money[2]);
        } else if (key_is(k, kn, "position_fee_cost_dollars")) {
            bit = PS_FEE_COST;
            rc = money_field(s, &b->money[3]);
        } else if (key_is(k, kn, "volume_fp")) {
            bit = PS_VOLUME;
            /* ``_TOTAL_SHAPE``: unsigned, "-0.00" included in nothing (the pure path converts it at once) */
            rc = string(s, &v, &vn) || vn == 0 || v[0] == '-' || unsigned_size(v, vn, &b->volume);
        } else if (key_is(k, kn, "position")) {
            rc = legacy_signed(s, &b->legacy, PS_POS);
        } else if (key_is(k, kn, "position_cost")) {
            rc = legacy_signed(s, &b->legacy, PS_COST);
        } else if (key_is(k, kn, "realized_pnl")) {
            rc = legacy_signed(s, &b->legacy, PS_PNL);
        } else if (key_is(k, kn, "fees_paid")) {
            rc = legacy_signed(s, &b->legacy, PS_FEES);
        } else if (key_is(k, kn, "position_fee_cost")) {
            rc = legacy_signed(s, &b->legacy, PS_FEE_COST);
        } else if (key_is(k, kn, "volume")) {
            rc = legacy_signed(s, &b->legacy, PS_VOLUME);
        } else {
            rc = skip_simple(s); /* user_id, ...: not in the wire struct */
        }
        if (rc) return -1;
        if (b->keys & bit) return -1;
        b->keys |= bit;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (expect(s, '}')) return -1;
        int need = PS_TICKER | PS_POS | PS_COST | PS_PNL | PS_FEES | PS_FEE_COST | PS_VOLUME;
        return (b->keys & need) == need ? 0 : -1; /* every legacy key has its partner then */
    }
}

#else /* the paths */

static PyTypeObject *fill_type, *position_type, *recent_type, *deque_type;
static Py_ssize_t off_fill[17], off_position[12], off_fill_ids, off_fills, off_fill_count, off_mposition,
    off_last_position, off_rid_capacity, off_rid_ids, off_rid_order;
static PyObject *s_fill_type, *s_position_type, *s_buy, *s_sell, *s_append, *s_pop, *s_popleft;
static const char *fill_slots[17] = {"sid", "seq", "id", "sending_ts_ms", "market_ticker", "yes_price", "count",
                                     "side", "action", "post_position", "trade_id", "order_id", "_wire", "_fee",
                                     "_is_taker", "_client_order_id", "_ts_ms"};
static const char *position_slots[12] = {"sid", "seq", "id", "sending_ts_ms", "market_ticker", "position", "_wire",
                                         "_position_cost", "_realized_pnl", "_fees_paid", "_position_fee_cost",
                                         "_volume"};

/* setup()'s part: the two message classes, RecentIds, and their slots. -1 on error (set). */
static int fillpos_setup(PyObject *mt, PyObject *fl, PyObject *ps, PyObject *ri) {
    if (((PyTypeObject *)fl)->tp_dictoffset != 0 || ((PyTypeObject *)ps)->tp_dictoffset != 0) {
        PyErr_SetString(PyExc_TypeError, "Fill and MarketPosition must have __slots__ only");
        return -1;
    }
    for (int i = 0; i < 17; i++)
        if ((off_fill[i] = slot_offset(fl, fill_slots[i])) < 0) return -1;
    for (int i = 0; i < 12; i++)
        if ((off_position[i] = slot_offset(ps, position_slots[i])) < 0) return -1;
    if ((off_fill_ids = slot_offset(mt, "_fill_ids")) < 0 || (off_fills = slot_offset(mt, "fills")) < 0 ||
        (off_fill_count = slot_offset(mt, "fill_count")) < 0 || (off_mposition = slot_offset(mt, "position")) < 0 ||
        (off_last_position = slot_offset(mt, "last_position")) < 0 ||
        (off_rid_capacity = slot_offset(ri, "_capacity")) < 0 || (off_rid_ids = slot_offset(ri, "_ids")) < 0 ||
        (off_rid_order = slot_offset(ri, "_order")) < 0)
        return -1;
    if (s_fill_type == NULL) {
        PyObject *collections = PyImport_ImportModule("collections");
        if (collections == NULL) return -1;
        PyObject *dq = PyObject_GetAttrString(collections, "deque");
        Py_DECREF(collections);
        if (dq == NULL) return -1;
        if (!PyType_Check(dq)) {
            Py_DECREF(dq);
            PyErr_SetString(PyExc_TypeError, "collections.deque is not a type");
            return -1;
        }
        deque_type = (PyTypeObject *)dq;
        if ((s_fill_type = PyUnicode_InternFromString("fill")) == NULL ||
            (s_position_type = PyUnicode_InternFromString("market_position")) == NULL ||
            (s_buy = PyUnicode_InternFromString("buy")) == NULL ||
            (s_sell = PyUnicode_InternFromString("sell")) == NULL ||
            (s_append = PyUnicode_InternFromString("append")) == NULL ||
            (s_pop = PyUnicode_InternFromString("pop")) == NULL ||
            (s_popleft = PyUnicode_InternFromString("popleft")) == NULL)
            return -1;
    }
    Py_INCREF(fl);
    Py_INCREF(ps);
    Py_INCREF(ri);
    Py_XSETREF(fill_type, (PyTypeObject *)fl);
    Py_XSETREF(position_type, (PyTypeObject *)ps);
    Py_XSETREF(recent_type, (PyTypeObject *)ri);
    return 0;
}

/* A string of the frame (ASCII without escapes, checked by the scanner); an interned one for the usual values. */
static PyObject *wire_str(const char *p, Py_ssize_t n) {
    PyObject *s = NULL;
    if (key_is(p, n, "yes")) s = s_yes;
    else if (key_is(p, n, "no")) s = s_no;
    else if (key_is(p, n, "buy")) s = s_buy;
    else if (key_is(p, n, "sell")) s = s_sell;
    if (s != NULL) {
        Py_INCREF(s);
        return s;
    }
    return PyUnicode_FromStringAndSize(p, n);
}

static PyObject *opt_str(int keys, int bit, const char *p, Py_ssize_t n) {
    if (keys & bit) return wire_str(p, n);
    Py_RETURN_NONE;
}

/* A ``Fill`` filled eagerly, as ``_fill`` and ``_load_fill`` would (``side = outcome_side or purchased_side or
 * side``; the action in ``side`` of the seed README's example moved to ``action``). */
static PyObject *build_fill(const Frame *f) {
    const FillBody *b = &f->fl;
    PyObject *v[17];
    int i;
    /* Python's ``a or b or c``: the first non-empty of the first two, else c as it is (None when absent). */
    const char *sp = NULL;
    Py_ssize_t sn = 0;
    int side_bit = 0;
    if ((b->keys & FL_OUTCOME) && b->outcome_len > 0) {
        sp = b->outcome, sn = b->outcome_len, side_bit = 1;
    } else if ((b->keys & FL_PURCHASED) && b->purchased_len > 0) {
        sp = b->purchased, sn = b->purchased_len, side_bit = 1;
    } else if (b->keys & FL_SIDE) {
        sp = b->side, sn = b->side_len, side_bit = 1;
    }
    int action_bit = (b->keys & FL_ACTION) != 0;
    const char *ap = b->action;
    Py_ssize_t an = b->action_len;
    if (!action_bit && side_bit && (key_is(sp, sn, "buy") || key_is(sp, sn, "sell"))) {
        ap = sp, an = sn, action_bit = 1;
        side_bit = 0;
    }
    envelope(&f->d, v);
    v[4] = PyUnicode_FromStringAndSize(b->ticker, b->ticker_len);
    v[5] = PyLong_FromLong(b->price);
    v[6] = PyLong_FromLongLong(b->count);
    v[7] = opt_str(side_bit, 1, sp, sn);
    v[8] = opt_str(action_bit, 1, ap, an);
    v[9] = opt_long(b->keys, FL_POST, b->post);
    v[10] = opt_str(b->keys, FL_TRADE_ID, b->trade_id, b->trade_id_len);
    v[11] = opt_str(b->keys, FL_ORDER_ID, b->order_id, b->order_id_len);
    v[12] = Py_None;
    Py_INCREF(Py_None);
    v[13] = opt_long(b->keys, FL_FEE, b->fee);
    v[14] = !(b->keys & FL_TAKER) ? Py_None : b->is_taker ? Py_True : Py_False;
    Py_INCREF(v[14]);
    v[15] = opt_str(b->keys, FL_COID, b->coid, b->coid_len);
    v[16] = PyLong_FromLongLong(b->ts_ms);
    for (i = 0; i < 17; i++)
        if (v[i] == NULL) goto fail;
    PyObject *msg = fill_type->tp_alloc(fill_type, 0); /* slots zeroed, tracked by the GC */
    if (msg == NULL) goto fail;
    for (i = 0; i < 17; i++) SLOT(msg, off_fill[i]) = v[i];
    return msg;
fail:
    for (i = 0; i < 17; i++) Py_XDECREF(v[i]);
    return NULL;
}

/* A ``MarketPosition`` filled eagerly (``_position`` and ``_load_position``). */
static PyObject *build_position(const Frame *f) {
    const PositionBody *b = &f->ps;
    PyObject *v[12];
    int i;
    envelope(&f->d, v);
    v[4] = PyUnicode_FromStringAndSize(b->ticker, b->ticker_len);
    v[5] = PyLong_FromLongLong(b->position);
    v[6] = Py_None;
    Py_INCREF(Py_None);
    for (i = 0; i < 4; i++) v[7 + i] = PyLong_FromLongLong(b->money[i]);
    v[11] = PyLong_FromLongLong(b->volume);
    for (i = 0; i < 12; i++)
        if (v[i] == NULL) goto fail;
    PyObject *msg = position_type->tp_alloc(position_type, 0);
    if (msg == NULL) goto fail;
    for (i = 0; i < 12; i++) SLOT(msg, off_position[i]) = v[i];
    return msg;
fail:
    for (i = 0; i < 12; i++) Py_XDECREF(v[i]);
    return NULL;
}

/* The known market of a message (borrowed), nobody listening, and its sequence check: 1 simple (*sid, *seq as
 * ``seq_simple``), 0 not simple, -1 error. */
static int fp_common(const Frame *f, PyObject *const *args, Py_ssize_t nargs, int listeners_at, PyObject *ticker,
                     PyObject **market, PyObject **sid, PyObject **seq) {
    *sid = *seq = NULL;
    if (nargs <= listeners_at) return 0;
    PyObject *listeners = args[listeners_at], *markets = args[3];
    if (!PyList_CheckExact(listeners) || PyList_GET_SIZE(listeners) != 0 || !PyDict_CheckExact(markets)) return 0;
    *market = PyDict_GetItemWithError(markets, ticker);
    if (*market == NULL || Py_TYPE(*market) != market_type) return PyErr_Occurred() ? -1 : 0;
    return seq_simple(&f->d, args[2], args[8], sid, seq);
}

/* by_type[kind] + 1, made (*newv) but not stored; *old borrowed (NULL: the key is new). 1, 0 not an int, -1. */
static int count_prep(PyObject *by_type, PyObject *kind, PyObject **old, PyObject **newv) {
    long long v = 0;
    *old = PyDict_GetItemWithError(by_type, kind);
    if (*old == NULL && PyErr_Occurred()) return -1;
    if (*old != NULL && !small_int(*old, &v)) return 0;
    *newv = PyLong_FromLongLong(v + 1);
    return *newv == NULL ? -1 : 1;
}

/* Undo ``by_type[kind] = new``: the old value back (replacing a key allocates nothing), or the new key removed. */
static void count_undo(PyObject *by_type, PyObject *kind, PyObject *old) {
    PyObject *t, *e, *tb;
    PyErr_Fetch(&t, &e, &tb);
    if (old != NULL) PyDict_SetItem(by_type, kind, old);
    else PyDict_DelItem(by_type, kind);
    PyErr_Restore(t, e, tb);
}

/* ``f"{trade_id}/{order_id}"`` (``add_fill``'s key), from the frame's bytes. */
static PyObject *fill_key(const FillBody *b) {
    const char *o = (b->keys & FL_ORDER_ID) ? b->order_id : "None";
    Py_ssize_t on = (b->keys & FL_ORDER_ID) ? b->order_id_len : 4;
    PyObject *key = PyUnicode_New(b->trade_id_len + 1 + on, 127);
    if (key == NULL) return NULL;
    char *d = (char *)PyUnicode_DATA(key);
    memcpy(d, b->trade_id, (size_t)b->trade_id_len);
    d[b->trade_id_len] = '/';
    memcpy(d + b->trade_id_len + 1, o, (size_t)on);
    return key;
}

static void drop_method(PyObject *obj, PyObject *name) { /* an undo: pop() the item just appended */
    PyObject *t, *e, *tb;
    PyErr_Fetch(&t, &e, &tb);
    PyObject *r = PyObject_CallMethodNoArgs(obj, name);
    if (r == NULL) PyErr_Clear();
    Py_XDECREF(r);
    PyErr_Restore(t, e, tb);
}

/* The fill of ``frame``: ``Core._on_fill`` and ``MarketState.add_fill`` in C. */
static PyObject *fill_path(const Frame *f, PyObject *const *args, Py_ssize_t nargs) {
    const FillBody *b = &f->fl;
    PyObject *msg = build_fill(f);
    if (msg == NULL) return NULL;
    PyObject *market, *sid, *seq, *key = NULL, *old = NULL, *newv = NULL, *count = NULL, *result = NULL;
    int rc = fp_common(f, args, nargs, 9, SLOT(msg, off_fill[4]), &market, &sid, &seq);
    if (rc <= 0) goto not_simple;
    /* the dedupe's objects, checked to be the plain ones MarketState.__init__ makes */
    PyObject *rid = SLOT(market, off_fill_ids), *fills = SLOT(market, off_fills);
    long long fill_count, capacity;
    if (rid == NULL || Py_TYPE(rid) != recent_type || fills == NULL || Py_TYPE(fills) != deque_type ||
        !small_int(SLOT(market, off_fill_count), &fill_count))
        goto not_simple;
    PyObject *ids = SLOT(rid, off_rid_ids), *order = SLOT(rid, off_rid_order);
    if (ids == NULL || !PySet_CheckExact(ids) || order == NULL || Py_TYPE(order) != deque_type ||
        !small_int(SLOT(rid, off_rid_capacity), &capacity))
        goto not_simple;
    rc = count_prep(args[5], s_fill_type, &old, &newv);
    if (rc <= 0) goto not_simple;
    if (b->keys & FL_TRADE_ID) {
        if ((key = fill_key(b)) == NULL) goto fail;
        int seen = PySet_Contains(ids, key);
        if (seen < 0) goto fail;
        if (seen) { /* a fill seen before: counted, sequence-checked, last_recv_ns; nothing recorded */
            if ((result = PyTuple_Pack(2, msg, Py_False)) == NULL) goto fail;
            if (PyDict_SetItem(args[5], s_fill_type, newv) < 0) goto fail; /* the last change that can fail */
            goto commit;
        }
    }
    if ((count = PyLong_FromLongLong(fill_count + 1)) == NULL) goto fail;
    /* The changes that can fail, each undone if a later one fails: ids.add, order.append, by_type, fills.append
     * (a deque's append fails, if at all, before it changes anything: also before a full one drops its oldest). */
    if (key != NULL) {
        if (PySet_Add(ids, key) < 0) goto fail;
        PyObject *r = PyObject_CallMethodOneArg(order, s_append, key);
        if (r == NULL) {
            PySet_Discard(ids, key);
            goto fail;
        }
        Py_DECREF(r);
    }
    if (PyDict_SetItem(args[5], s_fill_type, newv) < 0) goto undo_key;
    PyObject *r = PyObject_CallMethodOneArg(fills, s_append, msg);
    if (r == NULL) {
        count_undo(args[5], s_fill_type, old);
        goto undo_key;
    }
    Py_DECREF(r);
    /* From here on nothing can fail: the oldest id forgotten (popleft of a deque that is not empty, discard of a
     * str whose hash is cached), slots stored, an existing key's value replaced. */
    if (key != NULL && PyObject_Size(order) > capacity) {
        PyObject *gone = PyObject_CallMethodNoArgs(order, s_popleft);
        if (gone != NULL) {
            PySet_Discard(ids, gone);
            Py_DECREF(gone);
        } else {
            PyErr_Clear();
        }
    }
    put_slot(market, off_fill_count, count);
    count = NULL;
    if (b->keys & FL_POST) set_slot(market, off_mposition, SLOT(msg, off_fill[9]));
    result = msg;
    Py_INCREF(msg);
commit:
    if (sid != NULL) PyDict_SetItem(args[2], sid, seq); /* an existing key: cannot fail */
    set_slot(market, off_last_recv_ns, args[1]);
    Py_XDECREF(sid);
    Py_XDECREF(seq);
    Py_XDECREF(key);
    Py_XDECREF(newv);
    Py_DECREF(msg);
    return result;
undo_key:
    if (key != NULL) {
        drop_method(order, s_pop);
        PyObject *t, *e, *tb;
        PyErr_Fetch(&t, &e, &tb);
        PySet_Discard(ids, key);
        PyErr_Restore(t, e, tb);
    }
fail:
    Py_XDECREF(sid);
    Py_XDECREF(seq);
    Py_XDECREF(key);
    Py_XDECREF(newv);
    Py_XDECREF(count);
    Py_XDECREF(result);
    Py_DECREF(msg);
    return NULL;
not_simple:
    Py_XDECREF(sid);
    Py_XDECREF(seq);
    Py_XDECREF(newv);
    if (PyErr_Occurred()) {
        Py_DECREF(msg);
        return NULL;
    }
    return decoded_only(msg);
}

/* The position of ``frame``: ``Core._on_position`` and ``MarketState.apply_position`` (no ``last_recv_ns``, as
 * there). */
static PyObject *position_path(const Frame *f, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *msg = build_position(f);
    if (msg == NULL) return NULL;
    PyObject *market, *sid, *seq;
    int rc = fp_common(f, args, nargs, 10, SLOT(msg, off_position[4]), &market, &sid, &seq);
    if (rc > 0) rc = count_type(args[5], s_position_type); /* the one change that can fail, first */
    if (rc <= 0) {
        Py_XDECREF(sid);
        Py_XDECREF(seq);
        if (rc < 0) {
            Py_DECREF(msg);
            return NULL;
        }
        return decoded_only(msg);
    }
    if (sid != NULL) {
        PyDict_SetItem(args[2], sid, seq); /* an existing key: cannot fail */
        Py_DECREF(sid);
        Py_DECREF(seq);
    }
    set_slot(market, off_last_position, msg);
    set_slot(market, off_mposition, SLOT(msg, off_position[5]));
    return msg;
}

#endif
