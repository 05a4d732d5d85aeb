/* The compiled twin of the hot paths of ``Core.feed`` (issue 17): scan, exact fixed-point parse, sequence check,
 * integer book update and spread of one ``orderbook_delta`` frame in one C call; and the same for the two next most
 * frequent types, ``ticker`` (the market's ``last_ticker``) and ``trade`` (``MarketState.add_trade``, in C too).
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
 *                     (``market.last_recv_ns`` set) and its spread statistics (``SpreadStats.update``), with no
 *                     problem: done;
 *     (msg, size, spread)  as above, but the delta left a negative level or a crossed book: the caller reports it
 *                     (``Core._delta_tail``; the statistics are already updated).
 *
 * frame(data, recv_ns, last_seq, markets, apply, by_type, ticker_listeners, trade_listeners, restart_at) ->
 *     the same for deltas (``apply``: nobody listens for ``BookChanged``), and ``by_type`` counted for every frame
 *     it completes (msg, or a tuple of two or three); for tickers and trades:
 *     None            not a canonical ticker/trade frame: nothing was done;
 *     (msg,)          decoded only (listeners, an unknown market, not the next seq, ...): ``Core.process`` goes on;
 *     msg             done: sequence-checked, the market updated (``last_recv_ns``; ``last_ticker`` or
 *                     ``add_trade``);
 *     (msg, False)    a trade done, but ``add_trade`` found its trade_id already seen (``trade_duplicates``);
 *     (msg, exc)      a trade whose recording failed with ``exc`` (an allocation; nothing of it recorded): the caller
 *                     counts it as the pure path counts a handler's exception.
 * The latency sample (one frame in 8) is the caller's: it reads the returned message's ``sending_ts_ms`` or ``ts_ms``.
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
static PyObject *s_yes, *s_no, *s_delta_type, *s_ticker_type, *s_trade_type;

/* ---------------------------------------------------------------------------------------------------------------
 * Scanner: a tiny JSON reader for the one shape. Every function returns 0 on success, -1 for "not this shape". */

typedef struct {
    const char *p;
    const char *end;
} Scan;

static inline void ws(Scan *s) {
    /* Hot-path trick: a canonical frame has no whitespace, and every JSON whitespace character is <= ' ': one
     * compare settles the common case (a token's first character) before the four-way test. */
    if (__builtin_expect(s->p < s->end && (unsigned char)*s->p > ' ', 1)) return;
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
    /* Hot-path trick (SWAR): 8 bytes at a time, skipped whole while none of them is a quote, a backslash, a
     * control character (< 0x20) or non-ASCII (>= 0x80); the byte loop below then finds which one it was. With
     * ``zero(x)`` = a byte of x is 0 (the classic (x - 0x01..) & ~x & 0x80.. test, exact for its lowest such
     * byte, and any false positive above it only sends the word to the byte loop): a quote is a zero byte of
     * w ^ 0x22.., a backslash one of w ^ 0x5c..; w - 0x20.. borrows into the top bit of a byte < 0x20, and the
     * top bit of w itself is non-ASCII. About 2 instructions a byte instead of 6 (issue 17, item 2). */
    while (s->end - q >= 8) {
        uint64_t w;
        memcpy(&w, q, 8); /* an unaligned load, compiled to one mov */
        const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
        uint64_t quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\');
        uint64_t stop = ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash) | ((w - ones * 0x20) & ~w) | w;
        if (stop & high) break;
        q += 8;
    }
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

/* The value of a key the pure path's wire struct does not have (msgspec skips it): only a string, an integer,
 * true, false or null is skipped here; anything else (an object, an array, a float) hands the frame back. */
static int skip_simple(Scan *s) {
    ws(s);
    if (s->p >= s->end) return -1;
    char c = *s->p;
    if (c == '"') {
        const char *a;
        Py_ssize_t n;
        return string(s, &a, &n);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        int64_t v;
        if (c == '-') s->p++;
        return integer(s, &v);
    }
    Py_ssize_t left = s->end - s->p;
    if (left >= 4 && (memcmp(s->p, "true", 4) == 0 || memcmp(s->p, "null", 4) == 0)) {
        s->p += 4; /* what follows must be a ',' or '}' (the caller checks): "nullx" is refused there */
        return 0;
    }
    if (left >= 5 && memcmp(s->p, "false", 5) == 0) {
        s->p += 5;
        return 0;
    }
    return -1;
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

/* A ticker price "d.dddd" from $0 to $1 inclusive (``parse_price_dollars`` on the canonical shape; ticker prices
 * may be 0 and 1: "no bid", "no ask"). */
static int ticker_price(const char *t, Py_ssize_t n, long *out) {
    if (n != 6 || (t[0] != '0' && t[0] != '1') || t[1] != '.') return -1;
    long v = t[0] - '0';
    for (int i = 2; i < 6; i++) {
        if (t[i] < '0' || t[i] > '9') return -1;
        v = v * 10 + (t[i] - '0');
    }
    if (v > PRICE_SCALE) return -1;
    *out = v;
    return 0;
}

/* A size that must not be negative (ticker sizes, running totals, a trade's count): ``size_fp`` and >= 0 ("-0.00" is
 * 0, as the pure parser reads it); a negative one is an error of the pure path, which reports it. */
static int unsigned_size(const char *t, Py_ssize_t n, int64_t *out) {
    if (size_fp(t, n, out) || *out < 0) return -1;
    return 0;
}

#define MAX_DOLLARS 1000000000000LL
#define TS_S_MIN (TS_MS_MIN / 1000)
#define TS_S_MAX (TS_MS_MAX / 1000)

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

/* Hot-path trick: a key is first matched whole against the literals its first character allows, quotes and ':'
 * included (``KEY``: a memcmp of a constant length, compiled to one or two loads and compares), which skips the
 * string scan of the key and the chain of compares after it. Exact: the bytes `"market_ticker":` are that key and
 * nothing else (no escape can be in it). Anything else (whitespace before the ':', another key) takes the general
 * way: ``string`` and ``key_is``, which give the same index. */
#define KEY(lit) (left >= (Py_ssize_t)sizeof(lit) - 1 && memcmp(q, lit, sizeof(lit) - 1) == 0 ? (q += sizeof(lit) - 1, 1) : 0)

enum { BK_TICKER, BK_PRICE, BK_DELTA, BK_SIDE, BK_TSMS, BK_CLOCK, BK_MARKET_ID, BK_TS, BK_COID, BK_OTHER };
static const char *const body_keys[BK_OTHER] = {"market_ticker", "price_dollars", "delta_fp", "side", "ts_ms",
                                                "clock", "market_id", "ts", "client_order_id"};

/* The index in ``names`` of the key at s->p, its ':' consumed (``count``: another key); -1: not a key. */
static int key_slow(Scan *s, const char *const *names, int count) {
    const char *k;
    Py_ssize_t kn;
    if (string(s, &k, &kn) || expect(s, ':')) return -1;
    for (int i = 0; i < count; i++)
        if (key_is(k, kn, names[i])) return i;
    return count;
}

static inline int body_key(Scan *s) {
    ws(s);
    if (s->p < s->end && *s->p == '"') {
        const char *q = s->p + 1;
        Py_ssize_t left = s->end - q;
        int k = -1;
        if (left > 0) switch (*q) {
            case 'm': k = KEY("market_ticker\":") ? BK_TICKER : KEY("market_id\":") ? BK_MARKET_ID : -1; break;
            case 'p': k = KEY("price_dollars\":") ? BK_PRICE : -1; break;
            case 'd': k = KEY("delta_fp\":") ? BK_DELTA : -1; break;
            case 's': k = KEY("side\":") ? BK_SIDE : -1; break;
            case 't': k = KEY("ts_ms\":") ? BK_TSMS : KEY("ts\":") ? BK_TS : -1; break;
            case 'c': k = KEY("clock\":") ? BK_CLOCK : -1; break;
            default: break;
        }
        if (k >= 0) {
            s->p = q;
            return k;
        }
    }
    return key_slow(s, body_keys, BK_OTHER);
}

static int scan_body(Scan *s, Delta *d) {
    if (expect(s, '{')) return -1;
    ws(s);
    if (s->p < s->end && *s->p == '}') return -1; /* an empty body misses the required fields */
    for (;;) {
        const char *v;
        Py_ssize_t vn;
        int bit;
        switch (body_key(s)) {
        case BK_TICKER:
            bit = F_TICKER;
            if (string(s, &d->ticker, &d->ticker_len)) return -1;
            break;
        case BK_PRICE:
            bit = F_PRICE;
            if (string(s, &v, &vn) || book_price(v, vn, &d->price)) return -1;
            break;
        case BK_DELTA:
            bit = F_DELTA;
            if (string(s, &v, &vn) || size_fp(v, vn, &d->delta)) return -1;
            break;
        case BK_SIDE:
            bit = F_SIDE;
            if (string(s, &v, &vn)) return -1;
            if (key_is(v, vn, "yes")) d->side_yes = 1;
            else if (key_is(v, vn, "no")) d->side_yes = 0;
            else return -1;
            break;
        case BK_TSMS:
            bit = F_TSMS;
            if (integer(s, &d->ts_ms) || d->ts_ms < TS_MS_MIN || d->ts_ms > TS_MS_MAX) return -1;
            break;
        case BK_CLOCK:
            bit = F_CLOCK;
            if (integer(s, &d->clock)) return -1;
            break;
        case BK_MARKET_ID:
            bit = F_MARKET_ID;
            if (string(s, &v, &vn)) return -1;
            break;
        case BK_TS:
            bit = F_TS;
            if (string(s, &v, &vn)) return -1;
            break;
        case BK_COID:
            bit = F_COID;
            if (string(s, &d->coid, &d->coid_len)) return -1;
            break;
        default:
            return -1; /* not a key; legacy integer fields, nulls, anything else: the pure path */
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

/* A ticker's body (``_TickerBody``). ``keys``: the keys seen (a repeated one hands the frame back); ``has``: the
 * values present (an empty price string is a key seen with no value: the pure path reads "" as absent). */
enum {
    TK_TICKER = 1, TK_PRICE = 2, TK_BID = 4, TK_ASK = 8, TK_VOLUME = 16, TK_OI = 32, TK_DVOL = 64, TK_DOI = 128,
    TK_BID_SIZE = 256, TK_ASK_SIZE = 512, TK_LAST_SIZE = 1024, TK_TSMS = 2048, TK_TS = 4096
};

typedef struct {
    const char *ticker;
    Py_ssize_t ticker_len;
    int keys, has, legacy, ts_is_int;
    long price, bid, ask;
    int64_t volume, oi, dvol, doi, bid_size, ask_size, last_size, ts_ms, ts;
} TickerBody;

/* A legacy integer field beside its fixed-point one (real Kalshi tickers and trades send both): the fixed-point one
 * wins, so the integer only has to be one msgspec accepts (here: 0 .. 10^18 - 1); *legacy gets ``bit`` (the fixed-
 * point field must then have a value, checked at the end of the body). */
static int legacy_field(Scan *s, int *legacy, int bit) {
    int64_t v;
    if (integer(s, &v) || (*legacy & bit)) return -1;
    *legacy |= bit;
    return 0;
}

/* A price field of a ticker: "" is absent, else ``ticker_price``. */
static int ticker_price_field(Scan *s, TickerBody *t, int bit, long *out) {
    const char *v;
    Py_ssize_t vn;
    if (string(s, &v, &vn)) return -1;
    if (vn == 0) return 0;
    if (ticker_price(v, vn, out)) return -1;
    t->has |= bit;
    return 0;
}

static int size_field(Scan *s, int64_t *out) {
    const char *v;
    Py_ssize_t vn;
    return string(s, &v, &vn) || unsigned_size(v, vn, out) ? -1 : 0;
}

/* ``ts`` (deprecated): integer seconds in range or a string (only read when ``ts_ms`` is absent). *is_int set. */
static int ts_field(Scan *s, int64_t *secs, int *is_int) {
    ws(s);
    if (s->p < s->end && *s->p == '"') {
        const char *v;
        Py_ssize_t vn;
        *is_int = 0;
        return string(s, &v, &vn);
    }
    *is_int = 1;
    return integer(s, secs) || *secs < TS_S_MIN || *secs > TS_S_MAX ? -1 : 0;
}

/* The canonical ticker body: the fixed-point fields, whole-dollar integers (not negative here), ``ts_ms`` or integer
 * ``ts``. The legacy integer fields (``price``, ``yes_bid``, ``yes_ask``, ``volume``, ``open_interest``) are taken
 * only beside a fixed-point value, which wins (the pure path converts such a ticker at once, to the same values).
 * Keys the wire struct does not have are skipped. */
static int scan_ticker(Scan *s, TickerBody *t) {
    if (expect(s, '{')) return -1;
    ws(s);
    if (s->p < s->end && *s->p == '}') return -1;
    for (;;) {
        const char *k;
        Py_ssize_t kn;
        int bit = 0, rc;
        if (string(s, &k, &kn) || expect(s, ':')) return -1;
        if (key_is(k, kn, "market_ticker")) {
            bit = TK_TICKER;
            rc = string(s, &t->ticker, &t->ticker_len);
        } else if (key_is(k, kn, "price_dollars")) {
            bit = TK_PRICE;
            rc = ticker_price_field(s, t, bit, &t->price);
        } else if (key_is(k, kn, "yes_bid_dollars")) {
            bit = TK_BID;
            rc = ticker_price_field(s, t, bit, &t->bid);
        } else if (key_is(k, kn, "yes_ask_dollars")) {
            bit = TK_ASK;
            rc = ticker_price_field(s, t, bit, &t->ask);
        } else if (key_is(k, kn, "volume_fp")) {
            bit = TK_VOLUME;
            rc = size_field(s, &t->volume);
        } else if (key_is(k, kn, "open_interest_fp")) {
            bit = TK_OI;
            rc = size_field(s, &t->oi);
        } else if (key_is(k, kn, "dollar_volume")) {
            bit = TK_DVOL;
            rc = integer(s, &t->dvol) || t->dvol > MAX_DOLLARS;
        } else if (key_is(k, kn, "dollar_open_interest")) {
            bit = TK_DOI;
            rc = integer(s, &t->doi) || t->doi > MAX_DOLLARS;
        } else if (key_is(k, kn, "yes_bid_size_fp")) {
            bit = TK_BID_SIZE;
            rc = size_field(s, &t->bid_size);
        } else if (key_is(k, kn, "yes_ask_size_fp")) {
            bit = TK_ASK_SIZE;
            rc = size_field(s, &t->ask_size);
        } else if (key_is(k, kn, "last_trade_size_fp")) {
            bit = TK_LAST_SIZE;
            rc = size_field(s, &t->last_size);
        } else if (key_is(k, kn, "ts_ms")) {
            bit = TK_TSMS;
            rc = integer(s, &t->ts_ms) || t->ts_ms < TS_MS_MIN || t->ts_ms > TS_MS_MAX;
        } else if (key_is(k, kn, "ts")) {
            bit = TK_TS;
            rc = ts_field(s, &t->ts, &t->ts_is_int);
        } else if (key_is(k, kn, "price")) {
            rc = legacy_field(s, &t->legacy, TK_PRICE);
        } else if (key_is(k, kn, "yes_bid")) {
            rc = legacy_field(s, &t->legacy, TK_BID);
        } else if (key_is(k, kn, "yes_ask")) {
            rc = legacy_field(s, &t->legacy, TK_ASK);
        } else if (key_is(k, kn, "volume")) {
            rc = legacy_field(s, &t->legacy, TK_VOLUME);
        } else if (key_is(k, kn, "open_interest")) {
            rc = legacy_field(s, &t->legacy, TK_OI);
        } else {
            rc = skip_simple(s); /* market_id, time, Clock, ...: not in the wire struct */
        }
        if (rc) return -1;
        if (t->keys & bit) return -1; /* a repeated key */
        t->keys |= bit;
        if (bit != TK_PRICE && bit != TK_BID && bit != TK_ASK) t->has |= bit;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (expect(s, '}')) return -1;
        if (!(t->keys & TK_TICKER) || (t->legacy & ~t->has)) return -1; /* a legacy value the pure path would read */
        /* No ts_ms: integer seconds ``ts`` (x 1000) or nothing; an RFC 3339 ``ts`` is the pure path's. */
        if (!(t->keys & TK_TSMS) && (t->keys & TK_TS) && !t->ts_is_int) return -1;
        return 0;
    }
}

/* A trade's body (``_TradeBody``). */
enum {
    TR_TICKER = 1, TR_ID = 2, TR_YES = 4, TR_NO = 8, TR_COUNT = 16, TR_OUTCOME = 32, TR_SIDE = 64, TR_BOOK = 128,
    TR_TSMS = 256, TR_TS = 512
};

typedef struct {
    const char *ticker, *trade_id, *outcome, *side, *book;
    Py_ssize_t ticker_len, trade_id_len, outcome_len, side_len, book_len;
    int keys, has, legacy, ts_is_int;
    long yes, no;
    int64_t count, ts_ms, ts;
} TradeBody;

/* A trade price: "" is absent, else ``book_price`` (strictly inside $0..$1). */
static int trade_price_field(Scan *s, TradeBody *r, int bit, long *out) {
    const char *v;
    Py_ssize_t vn;
    if (string(s, &v, &vn)) return -1;
    if (vn == 0) return 0;
    if (book_price(v, vn, out)) return -1;
    r->has |= bit;
    return 0;
}

static int scan_trade(Scan *s, TradeBody *r) {
    if (expect(s, '{')) return -1;
    ws(s);
    if (s->p < s->end && *s->p == '}') return -1;
    for (;;) {
        const char *k;
        Py_ssize_t kn;
        int bit = 0, rc;
        if (string(s, &k, &kn) || expect(s, ':')) return -1;
        if (key_is(k, kn, "market_ticker")) {
            bit = TR_TICKER;
            rc = string(s, &r->ticker, &r->ticker_len);
        } else if (key_is(k, kn, "trade_id")) {
            bit = TR_ID;
            rc = string(s, &r->trade_id, &r->trade_id_len);
        } else if (key_is(k, kn, "yes_price_dollars")) {
            bit = TR_YES;
            rc = trade_price_field(s, r, bit, &r->yes);
        } else if (key_is(k, kn, "no_price_dollars")) {
            bit = TR_NO;
            rc = trade_price_field(s, r, bit, &r->no);
        } else if (key_is(k, kn, "count_fp")) {
            bit = TR_COUNT;
            rc = size_field(s, &r->count);
        } else if (key_is(k, kn, "taker_outcome_side")) {
            bit = TR_OUTCOME;
            rc = string(s, &r->outcome, &r->outcome_len);
        } else if (key_is(k, kn, "taker_side")) {
            bit = TR_SIDE;
            rc = string(s, &r->side, &r->side_len);
        } else if (key_is(k, kn, "taker_book_side")) {
            bit = TR_BOOK;
            rc = string(s, &r->book, &r->book_len);
        } else if (key_is(k, kn, "ts_ms")) {
            bit = TR_TSMS;
            rc = integer(s, &r->ts_ms) || r->ts_ms < TS_MS_MIN || r->ts_ms > TS_MS_MAX;
        } else if (key_is(k, kn, "ts")) {
            bit = TR_TS;
            rc = ts_field(s, &r->ts, &r->ts_is_int);
        } else if (key_is(k, kn, "yes_price")) {
            rc = legacy_field(s, &r->legacy, TR_YES);
        } else if (key_is(k, kn, "no_price")) {
            rc = legacy_field(s, &r->legacy, TR_NO);
        } else if (key_is(k, kn, "count")) {
            rc = legacy_field(s, &r->legacy, TR_COUNT);
        } else {
            rc = skip_simple(s); /* is_block_trade, ...: not in the wire struct */
        }
        if (rc) return -1;
        if (r->keys & bit) return -1;
        r->keys |= bit;
        if (bit != TR_YES && bit != TR_NO) r->has |= bit;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (expect(s, '}')) return -1;
        /* The count and one price are required; a string ``ts`` without ``ts_ms`` is RFC 3339: the pure path. */
        if (!(r->has & TR_TICKER) || !(r->has & TR_COUNT) || !(r->has & (TR_YES | TR_NO))) return -1;
        if (r->legacy & ~r->has) return -1; /* a legacy value the pure path would read */
        if (!(r->has & TR_TSMS) && (r->has & TR_TS) && !r->ts_is_int) return -1;
        return 0;
    }
}

/* Fills and positions: their scanners (_hotpath_private.h, first part). */
#define HOTPATH_PRIVATE_SCAN
#include "_hotpath_private.h"
#undef HOTPATH_PRIVATE_SCAN

enum { K_NONE = 0, K_DELTA = 1, K_TICKER = 2, K_TRADE = 3, K_FILL = 4, K_POSITION = 5 };

typedef struct {
    Delta d; /* the envelope (sid, seq, id, sending_ts_ms, and their bits in d.seen) and a delta's body */
    TickerBody t;
    TradeBody r;
    FillBody fl; /* zeroed by scan_fill, scan_position */
    PositionBody ps;
    int kind;
} Frame;

enum { EK_TYPE, EK_SID, EK_SEQ, EK_ID, EK_SENT, EK_MSG, EK_OTHER };
static const char *const env_keys[EK_OTHER] = {"type", "sid", "seq", "id", "sending_ts_ms", "msg"};

static inline int env_key(Scan *s) {
    ws(s);
    if (s->p < s->end && *s->p == '"') {
        const char *q = s->p + 1;
        Py_ssize_t left = s->end - q;
        int k = -1;
        if (left > 0) switch (*q) {
            case 't': k = KEY("type\":") ? EK_TYPE : -1; break;
            case 's': k = KEY("sid\":") ? EK_SID : KEY("seq\":") ? EK_SEQ : KEY("sending_ts_ms\":") ? EK_SENT : -1; break;
            case 'i': k = KEY("id\":") ? EK_ID : -1; break;
            case 'm': k = KEY("msg\":") ? EK_MSG : -1; break;
            default: break;
        }
        if (k >= 0) {
            s->p = q;
            return k;
        }
    }
    return key_slow(s, env_keys, EK_OTHER);
}

/* The envelope; the body by the frame's type. A body before its "type" is read as a delta's (the old contract of
 * ``delta``), and the type must then say so. */
static int scan(const char *buf, Py_ssize_t n, Frame *f) {
    Delta *d = &f->d;
    Scan s = {buf, buf + n};
    if (expect(&s, '{')) return -1;
    for (;;) {
        const char *v;
        Py_ssize_t vn;
        int bit;
        int key = env_key(&s);
        if (key == EK_TYPE) {
            bit = F_TYPE;
            if (string(&s, &v, &vn)) return -1;
            int kind = key_is(v, vn, "orderbook_delta") ? K_DELTA
                       : key_is(v, vn, "ticker")        ? K_TICKER
                       : key_is(v, vn, "trade")         ? K_TRADE
                       : key_is(v, vn, "fill")          ? K_FILL
                       : key_is(v, vn, "market_position") ? K_POSITION
                                                        : K_NONE;
            if (kind == K_NONE || (f->kind != K_NONE && f->kind != kind)) return -1;
            f->kind = kind;
        } else if (key == EK_SID) {
            bit = F_SID;
            if (integer(&s, &d->sid)) return -1;
        } else if (key == EK_SEQ) {
            bit = F_SEQ;
            if (integer(&s, &d->seq)) return -1;
        } else if (key == EK_ID) {
            bit = F_ID;
            if (integer(&s, &d->id)) return -1;
        } else if (key == EK_SENT) {
            bit = F_SENT;
            if (integer(&s, &d->sent) || d->sent < TS_MS_MIN || d->sent > TS_MS_MAX) return -1;
        } else if (key == EK_MSG) {
            bit = F_MSG;
            if (d->seen & F_MSG) return -1;
            if (f->kind == K_NONE) f->kind = K_DELTA;
            int rc = f->kind == K_DELTA ? scan_body(&s, d) : f->kind == K_TICKER ? scan_ticker(&s, &f->t)
                                                                                 : f->kind == K_TRADE ? scan_trade(&s, &f->r)
                     : f->kind == K_FILL ? scan_fill(&s, &f->fl) : scan_position(&s, &f->ps);
            if (rc) return -1;
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
    if ((d->seen & (F_TYPE | F_MSG)) != (F_TYPE | F_MSG)) return -1;
    if (f->kind != K_DELTA) return 0;
    int need = F_TICKER | F_SIDE | F_PRICE | F_DELTA | F_TSMS; /* no ts_ms: the pure path reads ts */
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

/* Hot-path trick: a market ticker's ``str`` from a small cache, so that the same ticker bytes give the same ``str``
 * object frame after frame: no new str per frame, and its hash (computed once, kept in the object) serves every
 * later dict lookup by it (``markets``, ``last_seq`` keys) without hashing the bytes again (issue 17, item 2).
 * Exact: an entry is used only if its length and every byte equal the frame's (the scanner's strings are ASCII, so
 * a str's characters are its bytes); a str is immutable, so sharing it changes no value. Bounded: TCACHE_N entries,
 * direct-mapped (a colliding ticker replaces the entry), tickers longer than TCACHE_MAX are made fresh. The
 * entries live as long as the module. */
#define TCACHE_N 256
#define TCACHE_MAX 64
static PyObject *tcache[TCACHE_N];

static PyObject *ticker_str(const char *p, Py_ssize_t n) {
    if (n > TCACHE_MAX) return PyUnicode_FromStringAndSize(p, n);
    uint64_t h = (uint64_t)n;
    if (n >= 8) { /* the last 8 bytes: where tickers of one event differ ("...-M25", "...-M26") */
        uint64_t w;
        memcpy(&w, p + n - 8, 8);
        h ^= w;
    } else {
        for (Py_ssize_t i = 0; i < n; i++) h = (h << 8) | (unsigned char)p[i];
    }
    size_t slot = (size_t)((h * 0x9E3779B97F4A7C15ULL) >> 56); /* Fibonacci hashing: the top 8 bits (TCACHE_N) */
    PyObject *e = tcache[slot];
    if (e != NULL && PyUnicode_GET_LENGTH(e) == n && memcmp(PyUnicode_DATA(e), p, (size_t)n) == 0) {
        Py_INCREF(e);
        return e;
    }
    PyObject *o = PyUnicode_FromStringAndSize(p, n);
    if (o == NULL) return NULL;
    Py_INCREF(o);
    Py_XSETREF(tcache[slot], o);
    return o;
}

static PyTypeObject *market_type, *book_type, *ladder_type, *stats_type;
static Py_ssize_t off_msg[11];
static Py_ssize_t off_has_snapshot, off_sid, off_book, off_last_recv_ns, off_spread, off_yes, off_no, off_levels,
    off_best, off_current, off_since, off_weighted, off_duration, off_min, off_max;

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

/* A slot set to a new reference (stolen); the old value is released. */
static inline void put_slot(PyObject *obj, Py_ssize_t off, PyObject *value) {
    PyObject *old = SLOT(obj, off);
    SLOT(obj, off) = value;
    Py_XDECREF(old);
}

/* The simple case of ``Core.feed``'s delta fast path and ``Core._on_delta`` (see core.py), the spread statistics
 * (``SpreadStats.update``) included: 1 applied (*tail_out: NULL when the delta is done, else a new ``(msg, size,
 * spread)`` for ``Core._delta_tail``: a negative level or a crossed book to report), 0 not the simple case (nothing
 * changed), -1 error. Every check and every allocation comes before the first change. */
static int count_type(PyObject *by_type, PyObject *kind);

static int apply(const Delta *d, PyObject *msg, PyObject *ticker, PyObject *recv_ns, PyObject *last_seq,
                 PyObject *markets, PyObject *by_type, PyObject **tail_out) {
    PyObject *spread = NULL, *st_weighted = NULL, *st_duration = NULL, *tail = NULL;
    *tail_out = NULL;
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
    /* No change can fail half-way (issue 17: a failure after the book changed would make the pure path apply the
     * delta again). Guaranteed by this order: (1) every object is made and every value computed first (the new
     * size, seq, count and spread, the next best bid); (2) the two changes that can fail (a dict insertion that
     * may grow the dict: a new level, a first by_type key) come first, and the second one undoes the first on
     * failure; (3) the rest cannot fail: replacing the value of a key already in a dict and storing a slot
     * allocate nothing, and deleting a key that is there never fails. */
    PyObject *seqo = PyLong_FromLongLong(d->seq);
    PyObject *newsize = size > 0 ? PyLong_FromLongLong(size) : NULL;
    PyObject *newcount = NULL, *oldcount = NULL;
    long long count = 0;
    if (seqo == NULL || (size > 0 && newsize == NULL)) goto fail_made;
    if (by_type != NULL) {
        oldcount = PyDict_GetItemWithError(by_type, s_delta_type); /* borrowed */
        if (oldcount == NULL && PyErr_Occurred()) goto fail_made;
        if (oldcount != NULL && !small_int(oldcount, &count)) {
            Py_DECREF(seqo);
            Py_XDECREF(newsize);
            Py_DECREF(price);
            goto not_simple;
        }
        if ((newcount = PyLong_FromLongLong(count + 1)) == NULL) goto fail_made;
    }
    /* The side's next best bid (borrowed): the new price if it beats the best, the next key below the removed best
     * (found before the removal, so nothing is left to do after it), else unchanged. */
    PyObject *next = best;
    int removing = size <= 0 && cur != NULL;
    if (size > 0) {
        if (best == Py_None || d->price > best_v) next = price;
    } else if (removing && best != Py_None && d->price == best_v) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        long long k, top = 0;
        next = Py_None;
        while (PyDict_Next(levels, &pos, &key, &value)) {
            if (key == price || !small_int(key, &k)) continue; /* the level going away (same int object or equal) */
            if (k == d->price) continue;
            if (next == Py_None || k > top) {
                next = key;
                top = k;
            }
        }
    }
    /* The spread: YES ask - YES bid = PRICE_SCALE - best NO bid - best YES bid, None if a ladder is empty. */
    PyObject *y_after = d->side_yes ? next : yes_best, *n_after = d->side_yes ? no_best : next;
    long long y, n, sp = 0;
    int has_spread = 0;
    if (y_after == Py_None || n_after == Py_None) {
        Py_INCREF(Py_None);
        spread = Py_None;
    } else if (small_int(y_after, &y) && small_int(n_after, &n)) {
        has_spread = 1;
        sp = PRICE_SCALE - n - y;
        if ((spread = PyLong_FromLongLong(sp)) == NULL) goto fail_made;
    } else {
        goto not_simple_made;
    }
    /* ``SpreadStats.update(spread, recv_ns)`` exactly, on 64-bit integers (a value outside them, or a slot that is
     * not a plain int, is the pure path's: Python's ints do not overflow). Its new values are made here and stored
     * with the changes that cannot fail below. Most deltas leave the spread alone: one compare. */
    PyObject *stats_cur = SLOT(stats, off_current), *st_min = NULL, *st_max = NULL; /* min/max: borrowed */
    long long cur_v = 0;
    int cur_none = stats_cur == Py_None, stats_change = 0;
    if (!cur_none && !small_int(stats_cur, &cur_v)) goto not_simple_made;
    if (has_spread ? (cur_none || cur_v != sp) : !cur_none) {
        stats_change = 1;
        long long recv, since, weighted, duration, mn = 0, mx = 0;
        PyObject *o_min = SLOT(stats, off_min), *o_max = SLOT(stats, off_max);
        if (!small_int(recv_ns, &recv) || !small_int(SLOT(stats, off_since), &since) ||
            !small_int(SLOT(stats, off_weighted), &weighted) || !small_int(SLOT(stats, off_duration), &duration) ||
            o_min == NULL || o_max == NULL || (o_min != Py_None && !small_int(o_min, &mn)) ||
            (o_max != Py_None && !small_int(o_max, &mx)))
            goto not_simple_made;
        if (!cur_none && recv > since) { /* the old spread lasted recv - since: weighted += current * elapsed */
            long long elapsed, prod, w2, d2;
            if (__builtin_sub_overflow(recv, since, &elapsed) || __builtin_mul_overflow(cur_v, elapsed, &prod) ||
                __builtin_add_overflow(weighted, prod, &w2) || __builtin_add_overflow(duration, elapsed, &d2))
                goto not_simple_made;
            if ((st_weighted = PyLong_FromLongLong(w2)) == NULL || (st_duration = PyLong_FromLongLong(d2)) == NULL)
                goto fail_made;
        }
        if (has_spread) {
            if (o_min == Py_None || sp < mn) st_min = spread;
            if (o_max == Py_None || sp > mx) st_max = spread;
        }
    }
    /* A negative level or a crossed book: ``Core._delta_tail`` reports it; its tuple is made now, before the book
     * changes (a failure to make it later would lose the report). */
    if (size < 0 || (has_spread && sp <= 0)) {
        PyObject *sizeo = PyLong_FromLongLong(size);
        tail = sizeo ? PyTuple_Pack(3, msg, sizeo, spread) : NULL;
        Py_XDECREF(sizeo);
        if (tail == NULL) goto fail_made;
    }
    Py_INCREF(next); /* held across the changes: the removed level's key may be the last reference to it */
    /* (2) the changes that can fail, first */
    int rc = 0;
    if (size > 0) rc = PyDict_SetItem(levels, price, newsize);
    if (rc == 0 && by_type != NULL) {
        rc = PyDict_SetItem(by_type, s_delta_type, newcount);
        if (rc < 0 && size > 0) { /* undo the level: put the old size back, or remove the new key */
            PyObject *exc_type, *exc, *tb;
            PyErr_Fetch(&exc_type, &exc, &tb);
            if (cur != NULL) PyDict_SetItem(levels, price, cur);
            else PyDict_DelItem(levels, price);
            PyErr_Restore(exc_type, exc, tb);
        }
    }
    if (rc < 0) {
        Py_DECREF(next);
        goto fail_made;
    }
    /* (3) the changes that cannot fail */
    if (removing) PyDict_DelItem(levels, price);
    PyDict_SetItem(last_seq, sid, seqo); /* the key is there (its last seq was read above) */
    set_slot(market, off_last_recv_ns, recv_ns);
    set_slot(ladder, off_best, next);
    if (stats_change) { /* storing slots allocates nothing */
        set_slot(stats, off_current, spread);
        set_slot(stats, off_since, recv_ns);
        if (st_weighted != NULL) {
            put_slot(stats, off_weighted, st_weighted);
            put_slot(stats, off_duration, st_duration);
        }
        if (st_min != NULL) set_slot(stats, off_min, st_min);
        if (st_max != NULL) set_slot(stats, off_max, st_max);
    }
    Py_DECREF(next);
    Py_DECREF(seqo);
    Py_XDECREF(newsize);
    Py_XDECREF(newcount);
    Py_DECREF(price);
    Py_DECREF(spread);
    *tail_out = tail;
    Py_DECREF(sid);
    return 1;
not_simple_made:
    Py_DECREF(seqo);
    Py_XDECREF(newsize);
    Py_XDECREF(newcount);
    Py_DECREF(price);
    Py_XDECREF(spread);
    Py_XDECREF(st_weighted);
    Py_XDECREF(st_duration);
not_simple:
    Py_DECREF(sid);
    if (PyErr_Occurred()) return -1;
    return 0;
fail_made:
    Py_XDECREF(seqo);
    Py_XDECREF(newsize);
    Py_XDECREF(newcount);
    Py_DECREF(price);
    Py_XDECREF(spread);
    Py_XDECREF(st_weighted);
    Py_XDECREF(st_duration);
    Py_XDECREF(tail);
fail:
    Py_DECREF(sid);
    return -1;
}

/* The delta of ``frame`` (and ``delta``, with ``by_type`` NULL): see the contract at the top. */
static PyObject *delta_path(Delta *d, PyObject *recv_ns, PyObject *last_seq, PyObject *markets, PyObject *apply_,
                            PyObject *by_type) {
    PyObject *ticker = ticker_str(d->ticker, d->ticker_len);
    if (ticker == NULL) return NULL;
    int applied = 0;
    PyObject *tail = NULL;
    /* The message is made before anything changes (see apply): a failure to make it leaves the book as it was. */
    PyObject *msg = build_msg(d, ticker); /* steals ticker (the message holds it) */
    if (msg == NULL) return NULL;
    if (apply_ == Py_True && PyDict_CheckExact(last_seq) && PyDict_CheckExact(markets)) {
        applied = apply(d, msg, ticker, recv_ns, last_seq, markets, by_type, &tail);
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
    if (tail != NULL) { /* a problem to report (rare): (msg, size, spread), the spread statistics already done */
        Py_DECREF(msg);
        return tail;
    }
    return msg;
}

/* The text of a frame: bytes, or an ASCII-only str (its characters are its bytes); else 0 (the pure path). */
static int frame_text(PyObject *data, const char **buf, Py_ssize_t *n) {
    if (PyBytes_CheckExact(data)) {
        *buf = PyBytes_AS_STRING(data);
        *n = PyBytes_GET_SIZE(data);
        return 1;
    }
    if (PyUnicode_CheckExact(data) && PyUnicode_IS_COMPACT_ASCII(data)) {
        *buf = (const char *)PyUnicode_DATA(data);
        *n = PyUnicode_GET_LENGTH(data);
        return 1;
    }
    return 0;
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
    const char *buf;
    Py_ssize_t n;
    if (!frame_text(args[0], &buf, &n)) Py_RETURN_NONE;
    Frame f;
    f.kind = K_NONE;
    memset(&f.d, 0, sizeof f.d);
    memset(&f.t, 0, sizeof f.t);
    memset(&f.r, 0, sizeof f.r);
    if (scan(buf, n, &f) || f.kind != K_DELTA) Py_RETURN_NONE;
    return delta_path(&f.d, args[1], args[2], args[3], args[4], NULL);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Tickers and trades. */

static PyTypeObject *ticker_type, *trade_type;
static Py_ssize_t off_ticker[17], off_trade[11], off_last_ticker;
static const char *ticker_slots[17] = {"sid", "seq", "id", "sending_ts_ms", "market_ticker", "_wire", "_price",
                                       "_yes_bid", "_yes_ask", "_volume", "_open_interest", "_dollar_volume",
                                       "_dollar_open_interest", "_yes_bid_size", "_yes_ask_size",
                                       "_last_trade_size", "_ts_ms"};
static const char *trade_slots[11] = {"sid", "seq", "id", "sending_ts_ms", "market_ticker", "yes_price",
                                      "no_price", "count", "taker_side", "trade_id", "ts_ms"};

/* by_type[kind] += 1: 1 done, 0 not an int there (not the simple case, nothing changed), -1 error. */
static int count_type(PyObject *by_type, PyObject *kind) {
    PyObject *cur = PyDict_GetItemWithError(by_type, kind); /* borrowed */
    long long v = 0;
    if (cur == NULL && PyErr_Occurred()) return -1;
    if (cur != NULL && !small_int(cur, &v)) return 0;
    PyObject *nv = PyLong_FromLongLong(v + 1);
    if (nv == NULL) return -1;
    int rc = PyDict_SetItem(by_type, kind, nv);
    Py_DECREF(nv);
    return rc < 0 ? -1 : 1;
}

static PyObject *opt_long(int has, int bit, int64_t v) {
    if (has & bit) return PyLong_FromLongLong(v);
    Py_RETURN_NONE;
}

/* The envelope's four integers into v[0..3] (new references; NULL on error, the caller frees). */
static void envelope(const Delta *d, PyObject **v) {
    v[0] = opt_int(d->seen, F_SID, d->sid);
    v[1] = opt_int(d->seen, F_SEQ, d->seq);
    v[2] = opt_int(d->seen, F_ID, d->id);
    v[3] = opt_int(d->seen, F_SENT, d->sent);
}

/* A ``Ticker`` filled eagerly (``_wire`` None: nothing is left to convert, and every field reads equal to the pure
 * path's lazy one). Every value is made before the object, so a failure leaves nothing half-built. */
static PyObject *build_ticker(const Frame *f) {
    const TickerBody *t = &f->t;
    PyObject *v[17];
    int i;
    envelope(&f->d, v);
    v[4] = ticker_str(t->ticker, t->ticker_len);
    v[5] = Py_None;
    Py_INCREF(Py_None);
    v[6] = opt_long(t->has, TK_PRICE, t->price);
    v[7] = opt_long(t->has, TK_BID, t->bid);
    v[8] = opt_long(t->has, TK_ASK, t->ask);
    v[9] = opt_long(t->has, TK_VOLUME, t->volume);
    v[10] = opt_long(t->has, TK_OI, t->oi);
    v[11] = opt_long(t->has, TK_DVOL, t->dvol);
    v[12] = opt_long(t->has, TK_DOI, t->doi);
    v[13] = opt_long(t->has, TK_BID_SIZE, t->bid_size);
    v[14] = opt_long(t->has, TK_ASK_SIZE, t->ask_size);
    v[15] = opt_long(t->has, TK_LAST_SIZE, t->last_size);
    if (t->has & TK_TSMS) v[16] = PyLong_FromLongLong(t->ts_ms);
    else if (t->has & TK_TS) v[16] = PyLong_FromLongLong(t->ts * 1000); /* integer seconds (``_ts_ms``) */
    else {
        v[16] = Py_None;
        Py_INCREF(Py_None);
    }
    for (i = 0; i < 17; i++)
        if (v[i] == NULL) goto fail;
    /* tp_alloc zeroes the slots and tracks the object for the GC (a __slots__ class is GC-tracked) */
    PyObject *msg = ticker_type->tp_alloc(ticker_type, 0);
    if (msg == NULL) goto fail;
    for (i = 0; i < 17; i++) SLOT(msg, off_ticker[i]) = v[i];
    return msg;
fail:
    for (i = 0; i < 17; i++) Py_XDECREF(v[i]);
    return NULL;
}

static int is_str(const char *p, Py_ssize_t n, const char *lit) { return p != NULL && key_is(p, n, lit); }

/* ``_taker_side``: taker_outcome_side yes/no, else taker_side yes/no, else taker_book_side bid/ask; else None. */
static PyObject *taker_side(const TradeBody *r) {
    PyObject *side = Py_None;
    if (is_str(r->outcome, r->outcome_len, "yes")) side = s_yes;
    else if (is_str(r->outcome, r->outcome_len, "no")) side = s_no;
    else if (is_str(r->side, r->side_len, "yes")) side = s_yes;
    else if (is_str(r->side, r->side_len, "no")) side = s_no;
    else if (is_str(r->book, r->book_len, "bid")) side = s_yes;
    else if (is_str(r->book, r->book_len, "ask")) side = s_no;
    Py_INCREF(side);
    return side;
}

/* A ``Trade`` built as ``build_msg`` builds a delta (a gc=False msgspec Struct: allocate, zero, store). A missing
 * price is the complement of the other (``_trade``); both given are taken as they are, like the pure path. */
static PyObject *build_trade(const Frame *f) {
    const TradeBody *r = &f->r;
    PyObject *v[11];
    int i;
    long yes = r->yes, no = r->no;
    if (!(r->has & TR_YES)) yes = PRICE_SCALE - no;
    if (!(r->has & TR_NO)) no = PRICE_SCALE - yes;
    envelope(&f->d, v);
    v[4] = ticker_str(r->ticker, r->ticker_len);
    v[5] = PyLong_FromLong(yes);
    v[6] = PyLong_FromLong(no);
    v[7] = PyLong_FromLongLong(r->count);
    v[8] = taker_side(r);
    if (r->has & TR_ID) {
        v[9] = PyUnicode_FromStringAndSize(r->trade_id, r->trade_id_len);
    } else {
        v[9] = Py_None;
        Py_INCREF(Py_None);
    }
    if (r->has & TR_TSMS) v[10] = PyLong_FromLongLong(r->ts_ms);
    else if (r->has & TR_TS) v[10] = PyLong_FromLongLong(r->ts * 1000); /* integer seconds (``_ts_ms``) */
    else {
        v[10] = Py_None;
        Py_INCREF(Py_None);
    }
    for (i = 0; i < 11; i++)
        if (v[i] == NULL) goto fail;
    PyObject *msg = PyObject_New(PyObject, trade_type);
    if (msg == NULL) goto fail;
    memset((char *)msg + sizeof(PyObject), 0, (size_t)(trade_type->tp_basicsize - (Py_ssize_t)sizeof(PyObject)));
    for (i = 0; i < 11; i++) SLOT(msg, off_trade[i]) = v[i];
    return msg;
fail:
    for (i = 0; i < 11; i++) Py_XDECREF(v[i]);
    return NULL;
}

/* The sequence check of ``Core.process`` for a frame that is not a delta, simple case only: no sid or no seq (no
 * check), or the next seq of its sid (and not a seq 1 while a restart is pending: ``Core._restart``). 1 simple
 * (*sid_out, *seq_out new references or NULL when there is nothing to store), 0 not simple, -1 error. */
static int seq_simple(const Delta *d, PyObject *last_seq, PyObject *restart_at, PyObject **sid_out,
                      PyObject **seq_out) {
    *sid_out = *seq_out = NULL;
    if (!(d->seen & F_SID) || !(d->seen & F_SEQ)) return 1;
    if (!PyDict_CheckExact(last_seq) || !PyDict_CheckExact(restart_at)) return 0;
    if (d->seq == 1 && PyDict_GET_SIZE(restart_at) != 0) return 0;
    PyObject *sid = PyLong_FromLongLong(d->sid);
    if (sid == NULL) return -1;
    long long v;
    PyObject *last = PyDict_GetItemWithError(last_seq, sid); /* borrowed */
    if (last == NULL || !small_int(last, &v) || v != d->seq - 1) {
        Py_DECREF(sid);
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *seq = PyLong_FromLongLong(d->seq);
    if (seq == NULL) {
        Py_DECREF(sid);
        return -1;
    }
    *sid_out = sid;
    *seq_out = seq;
    return 1;
}

static PyObject *decoded_only(PyObject *msg) {
    PyObject *t = PyTuple_Pack(1, msg);
    Py_DECREF(msg);
    return t;
}

/* The ticker of ``frame``: ``Core._on_ticker`` for a known market, nobody listening for ``TickerSeen``. */
static PyObject *ticker_path(const Frame *f, PyObject *const *args) {
    PyObject *msg = build_ticker(f);
    if (msg == NULL) return NULL;
    PyObject *listeners = args[6], *markets = args[3];
    if (!PyList_CheckExact(listeners) || PyList_GET_SIZE(listeners) != 0 || !PyDict_CheckExact(markets))
        return decoded_only(msg);
    PyObject *market = PyDict_GetItemWithError(markets, SLOT(msg, off_ticker[4])); /* borrowed */
    if (market == NULL || Py_TYPE(market) != market_type) {
        if (PyErr_Occurred()) {
            Py_DECREF(msg);
            return NULL;
        }
        return decoded_only(msg);
    }
    PyObject *sid, *seq;
    int rc = seq_simple(&f->d, args[2], args[8], &sid, &seq);
    if (rc <= 0) {
        if (rc < 0) {
            Py_DECREF(msg);
            return NULL;
        }
        return decoded_only(msg);
    }
    rc = count_type(args[5], s_ticker_type);
    if (rc <= 0) {
        Py_XDECREF(sid);
        Py_XDECREF(seq);
        if (rc < 0) {
            Py_DECREF(msg);
            return NULL;
        }
        return decoded_only(msg);
    }
    /* From here on nothing can fail: replacing the value of a key already in a dict allocates nothing. */
    if (sid != NULL) {
        PyDict_SetItem(args[2], sid, seq);
        Py_DECREF(sid);
        Py_DECREF(seq);
    }
    set_slot(market, off_last_recv_ns, args[1]);
    set_slot(market, off_last_ticker, msg); /* ``MarketState.apply_ticker`` inlined, as ``_on_ticker`` does */
    return msg;
}

/* ``MarketState.add_trade`` in C (issue 17: the Python call cost about 7,100 instructions a trade), on the pure
 * path's own objects: the ``RecentIds`` dedupe (its bound, oldest forgotten first), the trades deque (its maxlen
 * drops the oldest, as ``deque.append`` does), ``trade_count``, and ``VolumeStats.add`` (both ``VolumeTotals``, the
 * window's expiry by ``recv_ns``). ``trade_prepare`` checks everything and makes every new object; a structure of
 * another type, an int that is not small, a window of 0 or less or an odd entry in it: not the simple case, and
 * nothing has changed, so ``Core.process`` runs the pure ``_on_trade``. ``trade_commit`` then changes the state:
 * its only steps that can fail (a set or deque growing) come first and are undone on failure. */

static PyTypeObject *deque_type, *ids_type, *volume_type, *totals_type;
static Py_ssize_t off_trade_ids, off_trades, off_trade_count, off_volume, off_capacity, off_ids, off_order,
    off_recent, off_window, off_total, off_window_ns;
static Py_ssize_t off_totals[6]; /* count, contracts, yes_count, yes_contracts, no_count, no_contracts */
static const char *totals_slots[6] = {"count", "contracts", "yes_count", "yes_contracts", "no_count", "no_contracts"};
/* Hot-path trick: deque's own C functions (from its method descriptors, their flags checked by setup), called
 * directly: a method call through the descriptor costs about 10 times more. */
static PyCFunction dq_append, dq_popleft, dq_pop;

typedef struct {
    PyObject *key;       /* the trade_id to remember (borrowed, the msg holds it), or NULL */
    PyObject *ids, *order, *trades, *recent, *entry; /* borrowed, but entry: the new (recv_ns, side, count) */
    PyObject *evict;     /* the id the bound forgets (borrowed from order or key), or NULL */
    Py_ssize_t expire;   /* entries leaving the window */
    PyObject *vals[13];  /* new ints: trade_count, total's 6, window's 6 (NULL where unchanged) */
    PyObject *objs[13];  /* their owners (borrowed) */
    Py_ssize_t offs[13];
} TradeAdd;

static void trade_release(TradeAdd *a) {
    Py_CLEAR(a->entry);
    for (int i = 0; i < 13; i++) Py_CLEAR(a->vals[i]);
}

/* 0 a yes, 1 a no, 2 neither (None or another string), -1 not a string or None */
static int side_index(PyObject *side) {
    if (side == s_yes) return 0;
    if (side == s_no) return 1;
    if (side == Py_None) return 2;
    if (!PyUnicode_CheckExact(side)) return -1;
    if (PyUnicode_CompareWithASCIIString(side, "yes") == 0) return 0;
    if (PyUnicode_CompareWithASCIIString(side, "no") == 0) return 1;
    return 2;
}

/* An entry of the volume window: (recv_ns, side, contracts) of small ints and a side; 0 if odd. */
static int window_entry(PyObject *e, long long *ns, int *side, long long *contracts) {
    if (!PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != 3) return 0;
    if (!small_int(PyTuple_GET_ITEM(e, 0), ns) || !small_int(PyTuple_GET_ITEM(e, 2), contracts)) return 0;
    return (*side = side_index(PyTuple_GET_ITEM(e, 1))) >= 0;
}

/* The totals' six ints; 0 if one is not a small int. */
static int read_totals(PyObject *t, long long *v) {
    for (int i = 0; i < 6; i++)
        if (!small_int(SLOT(t, off_totals[i]), &v[i])) return 0;
    return 1;
}

/* 1 prepared (or *dup set: the trade_id was seen, nothing to do), 0 not the simple case, -1 error; on 0 and -1
 * nothing is held. */
static int trade_prepare(PyObject *market, PyObject *msg, PyObject *recv_ns, TradeAdd *a, int *dup) {
    memset(a, 0, sizeof *a);
    *dup = 0;
    long long now, count, window_ns, tc, tot[6], win[6];
    PyObject *key = SLOT(msg, off_trade[9]), *side = SLOT(msg, off_trade[8]), *cnt = SLOT(msg, off_trade[7]);
    PyObject *seen = SLOT(market, off_trade_ids), *trades = SLOT(market, off_trades);
    PyObject *volume = SLOT(market, off_volume);
    if (trades == NULL || Py_TYPE(trades) != deque_type || volume == NULL || Py_TYPE(volume) != volume_type ||
        !small_int(recv_ns, &now) || !small_int(cnt, &count) || !small_int(SLOT(market, off_trade_count), &tc))
        return 0;
    if (key != Py_None) {
        if (seen == NULL || Py_TYPE(seen) != ids_type) return 0;
        PyObject *ids = SLOT(seen, off_ids), *order = SLOT(seen, off_order);
        long long capacity;
        if (ids == NULL || !PySet_CheckExact(ids) || order == NULL || Py_TYPE(order) != deque_type ||
            !small_int(SLOT(seen, off_capacity), &capacity))
            return 0;
        int in = PySet_Contains(ids, key); /* an exact str (built by build_trade): its hash cannot fail */
        if (in < 0) return -1;
        if (in) {
            *dup = 1;
            return 1;
        }
        Py_ssize_t n = PyObject_Size(order);
        if (n < 0) return -1;
        if (n + 1 > capacity) { /* the bound forgets the oldest id (the new one itself if order is empty) */
            PyObject *old = n ? PySequence_GetItem(order, 0) : Py_NewRef(key); /* O(1) at either end */
            if (old == NULL) return -1;
            a->evict = old;
            Py_DECREF(old); /* order still holds it until the commit (or key is the msg's) */
            if (!PyUnicode_CheckExact(old)) return 0;
        }
        a->key = key;
        a->ids = ids;
        a->order = order;
    }
    PyObject *recent = SLOT(volume, off_recent), *total = SLOT(volume, off_total), *window = SLOT(volume, off_window);
    int si = side_index(side);
    if (recent == NULL || Py_TYPE(recent) != deque_type || total == NULL || Py_TYPE(total) != totals_type ||
        window == NULL || Py_TYPE(window) != totals_type || total == window ||
        !small_int(SLOT(volume, off_window_ns), &window_ns) || window_ns <= 0 || si < 0 || !read_totals(total, tot) ||
        !read_totals(window, win))
        return 0;
    long long horizon, old_tot[6], old_win[6];
    if (__builtin_sub_overflow(now, window_ns, &horizon)) return 0;
    memcpy(old_tot, tot, sizeof tot);
    memcpy(old_win, win, sizeof win);
    long long add[6] = {1, count, 0, 0, 0, 0};
    if (si < 2) {
        add[2 + 2 * si] = 1;
        add[3 + 2 * si] = count;
    }
    for (int i = 0; i < 6; i++)
        if (__builtin_add_overflow(tot[i], add[i], &tot[i]) || __builtin_add_overflow(win[i], add[i], &win[i]))
            return 0;
    /* The window's expiry (``_expire``), read before anything changes: the entries from the oldest on while their
     * recv_ns is <= recv_ns - window_ns (the new entry never is: window_ns > 0). */
    Py_ssize_t n = PyObject_Size(recent);
    if (n < 0) return -1;
    if (n) {
        long long ns, c;
        int s;
        PyObject *first = PySequence_GetItem(recent, 0);
        if (first == NULL) return -1;
        int ok = window_entry(first, &ns, &s, &c);
        Py_DECREF(first);
        if (!ok) return 0;
        if (ns <= horizon) { /* one trade in seven in a busy stream: the iterator's cost is paid rarely */
            PyObject *it = PyObject_GetIter(recent), *e;
            if (it == NULL) return -1;
            while ((e = PyIter_Next(it)) != NULL) {
                ok = window_entry(e, &ns, &s, &c);
                Py_DECREF(e);
                if (!ok) break;
                if (ns > horizon) break;
                long long sub[6] = {1, c, 0, 0, 0, 0};
                if (s < 2) {
                    sub[2 + 2 * s] = 1;
                    sub[3 + 2 * s] = c;
                }
                for (int i = 0; i < 6; i++)
                    if (__builtin_sub_overflow(win[i], sub[i], &win[i])) ok = 0;
                if (!ok) break;
                a->expire++;
            }
            Py_DECREF(it);
            if (PyErr_Occurred()) return -1;
            if (!ok) return 0;
        }
    }
    /* Every new object, before the first change. */
    if ((a->entry = PyTuple_Pack(3, recv_ns, side, cnt)) == NULL) return -1;
    a->vals[0] = PyLong_FromLongLong(tc + 1);
    a->objs[0] = market;
    a->offs[0] = off_trade_count;
    if (a->vals[0] == NULL) goto fail;
    for (int i = 0; i < 6; i++) {
        if (tot[i] != old_tot[i]) {
            if ((a->vals[1 + i] = PyLong_FromLongLong(tot[i])) == NULL) goto fail;
            a->objs[1 + i] = total;
            a->offs[1 + i] = off_totals[i];
        }
        if (win[i] != old_win[i]) {
            if ((a->vals[7 + i] = PyLong_FromLongLong(win[i])) == NULL) goto fail;
            a->objs[7 + i] = window;
            a->offs[7 + i] = off_totals[i];
        }
    }
    a->trades = trades;
    a->recent = recent;
    return 1;
fail:
    trade_release(a);
    return -1;
}

static int dq_call_append(PyObject *dq, PyObject *item) {
    PyObject *r = dq_append(dq, item);
    if (r == NULL) return -1;
    Py_DECREF(r);
    return 0;
}

/* The prepared trade recorded: 0 done, -1 an allocation failed (nothing changed). Consumes ``a``. */
static int trade_commit(TradeAdd *a, PyObject *msg) {
    int undo = 0; /* how many steps to take back */
    if (a->key != NULL) {
        if (PySet_Add(a->ids, a->key) < 0) goto fail;
        undo = 1;
        if (dq_call_append(a->order, a->key) < 0) goto fail;
        undo = 2;
    }
    if (dq_call_append(a->recent, a->entry) < 0) goto fail;
    undo = 3;
    if (dq_call_append(a->trades, msg) < 0) goto fail; /* at maxlen the deque drops its oldest itself */
    /* Nothing below can fail: pops, a discard of an exact str, slots set to objects already made. */
    if (a->evict != NULL) {
        PyObject *old = dq_popleft(a->order, NULL);
        if (PySet_Discard(a->ids, old) < 0) PyErr_Clear();
        Py_DECREF(old);
    }
    for (Py_ssize_t i = 0; i < a->expire; i++) Py_DECREF(dq_popleft(a->recent, NULL));
    for (int i = 0; i < 13; i++)
        if (a->vals[i] != NULL) {
            put_slot(a->objs[i], a->offs[i], a->vals[i]);
            a->vals[i] = NULL;
        }
    Py_CLEAR(a->entry);
    return 0;
fail:
    if (undo >= 3) Py_DECREF(dq_pop(a->recent, NULL));
    if (undo >= 2) Py_DECREF(dq_pop(a->order, NULL));
    if (undo >= 1) {
        PyObject *type, *value, *tb; /* keep the allocation's error across the discard */
        PyErr_Fetch(&type, &value, &tb);
        if (PySet_Discard(a->ids, a->key) < 0) PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
    trade_release(a);
    return -1;
}

/* The trade of ``frame``: ``Core._on_trade`` for a known market, nobody listening for ``TradeSeen``, with the
 * market's ``add_trade`` in C (``trade_prepare``, ``trade_commit``). */
static PyObject *trade_path(const Frame *f, PyObject *const *args) {
    PyObject *msg = build_trade(f);
    if (msg == NULL) return NULL;
    PyObject *listeners = args[7], *markets = args[3];
    if (!PyList_CheckExact(listeners) || PyList_GET_SIZE(listeners) != 0 || !PyDict_CheckExact(markets))
        return decoded_only(msg);
    PyObject *market = PyDict_GetItemWithError(markets, SLOT(msg, off_trade[4])); /* borrowed */
    if (market == NULL || Py_TYPE(market) != market_type) {
        if (PyErr_Occurred()) {
            Py_DECREF(msg);
            return NULL;
        }
        return decoded_only(msg);
    }
    PyObject *sid, *seq;
    int rc = seq_simple(&f->d, args[2], args[8], &sid, &seq);
    if (rc <= 0) {
        if (rc < 0) {
            Py_DECREF(msg);
            return NULL;
        }
        return decoded_only(msg);
    }
    TradeAdd add;
    int dup;
    int prc = trade_prepare(market, msg, args[1], &add, &dup);
    if (prc <= 0) { /* an odd structure: nothing changed, the pure ``_on_trade`` decides */
        Py_XDECREF(sid);
        Py_XDECREF(seq);
        if (prc < 0) {
            Py_DECREF(msg);
            return NULL;
        }
        return decoded_only(msg);
    }
    rc = count_type(args[5], s_trade_type);
    if (rc <= 0) {
        Py_XDECREF(sid);
        Py_XDECREF(seq);
        trade_release(&add);
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
    set_slot(market, off_last_recv_ns, args[1]);
    if (dup) { /* a trade_id seen before: ``trade_duplicates`` */
        PyObject *t = PyTuple_Pack(2, msg, Py_False);
        Py_DECREF(msg);
        return t;
    }
    if (trade_commit(&add, msg) < 0) {
        /* An allocation failed (nothing of the trade recorded): the frame was counted and sequence-checked, as
         * ``process`` does before its handler raises; the caller counts the failure (``HandlerFailed``). */
#if PY_VERSION_HEX >= 0x030C0000
        PyObject *exc = PyErr_GetRaisedException();
#else
        PyObject *type, *exc, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        if (tb != NULL && exc != NULL) PyException_SetTraceback(exc, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
#endif
        if (exc == NULL) {
            exc = Py_None;
            Py_INCREF(exc);
        }
        PyObject *t = PyTuple_Pack(2, msg, exc);
        Py_DECREF(exc);
        Py_DECREF(msg);
        return t;
    }
    return msg;
}

/* Fills and positions: their paths (_hotpath_private.h, second part). */
#include "_hotpath_private.h"

static PyObject *hot_frame(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9 && nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "frame(data, recv_ns, last_seq, markets, apply, by_type, ticker_listeners, "
                                         "trade_listeners, restart_at[, fill_listeners, position_listeners])");
        return NULL;
    }
    if (delta_cls == NULL || ticker_type == NULL || !PyDict_CheckExact(args[5])) {
        PyErr_SetString(PyExc_RuntimeError, "setup() was not called with the ticker and trade classes");
        return NULL;
    }
    const char *buf;
    Py_ssize_t n;
    if (!frame_text(args[0], &buf, &n)) Py_RETURN_NONE;
    Frame f;
    f.kind = K_NONE;
    memset(&f.d, 0, sizeof f.d);
    memset(&f.t, 0, sizeof f.t);
    memset(&f.r, 0, sizeof f.r);
    if (scan(buf, n, &f)) Py_RETURN_NONE;
    switch (f.kind) {
    case K_DELTA:
        return delta_path(&f.d, args[1], args[2], args[3], args[4], args[5]);
    case K_TICKER:
        return ticker_path(&f, args);
    case K_TRADE:
        return trade_path(&f, args);
    case K_FILL:
        if (fill_type == NULL) Py_RETURN_NONE; /* setup() without them */
        return fill_path(&f, args, nargs);
    case K_POSITION:
        if (position_type == NULL) Py_RETURN_NONE; /* setup() without them */
        return position_path(&f, args, nargs);
    default:
        Py_RETURN_NONE;
    }
}

/* ---------------------------------------------------------------------------------------------------------------
 * The whole simple case of ``Core.feed`` (issue 17): a callable installed per ``Core`` as its ``feed`` attribute
 * (``Core.__init__``), so that a frame the compiled path completes runs no Python bytecode at all: the ``frames``
 * counter, ``frame()``, the one-in-``LATENCY_EVERY`` latency sample, the return value. Everything else goes back to
 * Python: a call with keywords or another arity to ``Core.feed`` itself (nothing done yet), a frame ``frame()`` did
 * not complete to ``Core._feed_rest`` (the frame counted, as ``Core.feed`` does), and the sampled frame's latency
 * to ``Core._sample`` (one frame in 8: not worth a C copy of it).
 *
 * The Core's state is read at each call from its instance dict (``sequence``, ``_restart_at`` and
 * ``_latency_skip`` are replaced while it runs; ``state``'s ``markets`` through its slot); ``counters``,
 * ``_by_type`` and the three listener lists are held: they are made once by ``Core.__init__`` and only changed in
 * place (the bus edits its lists in place). */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *core, *dict, *counters, *by_type, *l_changed, *l_ticker, *l_trade, *l_fill, *l_position;
    PyObject *feed, *rest, *sample; /* Core.feed, Core._feed_rest, Core._sample (plain functions) */
    PyTypeObject *state_type, *tracker_type;
    Py_ssize_t off_markets, off_last_seq;
    long every;
} Feeder;

static PyObject *s_frames, *s_state, *s_sequence, *s_restart_at, *s_latency_skip;

/* 1 if the frame begins exactly ``{"type":"X"`` with X none of the three types ``frame()`` takes (it would return
 * None at once: the type comes first in every frame Kalshi sends); 0 otherwise (``frame()`` decides). */
static int foreign_type(const char *buf, Py_ssize_t n) {
    static const char head[] = "{\"type\":\"";
    const Py_ssize_t h = (Py_ssize_t)sizeof head - 1;
    if (n < h + 2 || memcmp(buf, head, (size_t)h) != 0) return 0;
    const char *v = buf + h, *end = buf + n, *q = memchr(v, '"', (size_t)(end - v));
    if (q == NULL) return 0;
    Py_ssize_t vn = q - v;
    if (memchr(v, '\\', (size_t)vn) != NULL) return 0; /* an escape: frame() reads it the same way (None) */
    return !(key_is(v, vn, "orderbook_delta") || key_is(v, vn, "ticker") || key_is(v, vn, "trade") ||
             (fill_type != NULL && (key_is(v, vn, "fill") || key_is(v, vn, "market_position"))));
}

/* ``Core.feed(core, *args, **kwargs)``, nothing done here. */
static PyObject *feeder_forward(Feeder *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject *stack[8];
    if (total + 1 > 8) return PyObject_CallMethod(self->core, "feed", NULL); /* raises the arity TypeError */
    stack[0] = self->core;
    for (Py_ssize_t i = 0; i < total; i++) stack[i + 1] = args[i];
    return PyObject_Vectorcall(self->feed, stack, (size_t)(nargs + 1), kwnames);
}

static PyObject *feeder_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Feeder *self = (Feeder *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL || nargs < 2 || nargs > 3) return feeder_forward(self, args, nargsf, kwnames);
    PyObject *timed = nargs == 3 ? args[2] : Py_True;
    /* A frame that says first of all that it is of a type frame() never takes (fills, positions, snapshots, acks:
     * 1 frame in 10) goes straight to Core._feed_rest, counted: none of frame()'s inputs is looked up for it (issue
     * 17: the fallback cost about 480 instructions a frame more than the pure path's, now about the same). */
    const char *buf;
    Py_ssize_t n;
    if (frame_text(args[0], &buf, &n) && foreign_type(buf, n)) {
        long long count;
        PyObject *frames = PyDict_GetItemWithError(self->counters, s_frames);
        if (small_int(frames, &count)) {
            PyObject *nv = PyLong_FromLongLong(count + 1);
            if (nv == NULL || PyDict_SetItem(self->counters, s_frames, nv) < 0) {
                Py_XDECREF(nv);
                return NULL;
            }
            Py_DECREF(nv);
            PyObject *call[5] = {self->core, args[0], args[1], timed, Py_None};
            return PyObject_Vectorcall(self->rest, call, 5, NULL);
        }
        if (PyErr_Occurred()) return NULL;
    }
    /* The inputs of frame(), all borrowed; an odd one (replaced by something else): Core.feed decides. */
    PyObject *state = PyDict_GetItemWithError(self->dict, s_state);
    PyObject *tracker = PyDict_GetItemWithError(self->dict, s_sequence);
    PyObject *restart = PyDict_GetItemWithError(self->dict, s_restart_at);
    PyObject *frames = PyDict_GetItemWithError(self->counters, s_frames);
    long long count;
    if (state == NULL || tracker == NULL || restart == NULL || Py_TYPE(state) != self->state_type ||
        Py_TYPE(tracker) != self->tracker_type || !small_int(frames, &count)) {
        if (PyErr_Occurred()) return NULL;
        return feeder_forward(self, args, nargsf, kwnames);
    }
    PyObject *markets = SLOT(state, self->off_markets), *last_seq = SLOT(tracker, self->off_last_seq);
    if (markets == NULL || last_seq == NULL) return feeder_forward(self, args, nargsf, kwnames);
    /* counters["frames"] += 1, first, as Core.feed does: from here on the frame is counted */
    PyObject *nv = PyLong_FromLongLong(count + 1);
    if (nv == NULL || PyDict_SetItem(self->counters, s_frames, nv) < 0) {
        Py_XDECREF(nv);
        return NULL;
    }
    Py_DECREF(nv);
    PyObject *fargs[11] = {args[0], args[1], last_seq, markets,
                           PyList_GET_SIZE(self->l_changed) == 0 ? Py_True : Py_False, self->by_type,
                           self->l_ticker, self->l_trade, restart, self->l_fill, self->l_position};
    PyObject *done = hot_frame(NULL, fargs, 11);
    if (done == NULL) {
        /* Core.feed's belt: a failure there (only an allocation can fail) changed nothing; the pure path decides */
        if (!PyErr_ExceptionMatches(PyExc_Exception)) return NULL;
        PyErr_Clear();
        done = Py_None;
        Py_INCREF(done);
    }
    if (done != Py_None && !PyTuple_CheckExact(done)) { /* applied: only the latency sample is left */
        int t = timed == Py_True ? 1 : timed == Py_False ? 0 : PyObject_IsTrue(timed);
        if (t < 0) goto fail;
        if (t) {
            long long skip;
            PyObject *so = PyDict_GetItemWithError(self->dict, s_latency_skip);
            if (!small_int(so, &skip)) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "Core._latency_skip is not an int");
                goto fail;
            }
            /* 0 .. LATENCY_EVERY - 1: CPython's cached small ints, so these cannot fail for want of memory */
            PyObject *next = PyLong_FromLongLong(skip ? skip - 1 : self->every - 1);
            int rc = next == NULL ? -1 : PyDict_SetItem(self->dict, s_latency_skip, next);
            Py_XDECREF(next);
            if (rc < 0) goto fail;
            if (!skip) {
                PyObject *call[3] = {self->core, done, args[1]};
                PyObject *r = PyObject_Vectorcall(self->sample, call, 3, NULL);
                if (r == NULL) goto fail;
                Py_DECREF(r);
            }
        }
        return done;
    }
    PyObject *call[5] = {self->core, args[0], args[1], timed, done};
    PyObject *r = PyObject_Vectorcall(self->rest, call, 5, NULL);
    Py_DECREF(done);
    return r;
fail:
    Py_DECREF(done);
    return NULL;
}

static int feeder_traverse(PyObject *op, visitproc visit, void *arg) {
    Feeder *self = (Feeder *)op;
    Py_VISIT(self->core);
    Py_VISIT(self->dict);
    Py_VISIT(self->counters);
    Py_VISIT(self->by_type);
    Py_VISIT(self->l_changed);
    Py_VISIT(self->l_ticker);
    Py_VISIT(self->l_trade);
    Py_VISIT(self->l_fill);
    Py_VISIT(self->l_position);
    Py_VISIT(self->feed);
    Py_VISIT(self->rest);
    Py_VISIT(self->sample);
    Py_VISIT(self->state_type);
    Py_VISIT(self->tracker_type);
    return 0;
}

static int feeder_clear(PyObject *op) {
    Feeder *self = (Feeder *)op;
    Py_CLEAR(self->core);
    Py_CLEAR(self->dict);
    Py_CLEAR(self->counters);
    Py_CLEAR(self->by_type);
    Py_CLEAR(self->l_changed);
    Py_CLEAR(self->l_ticker);
    Py_CLEAR(self->l_trade);
    Py_CLEAR(self->l_fill);
    Py_CLEAR(self->l_position);
    Py_CLEAR(self->feed);
    Py_CLEAR(self->rest);
    Py_CLEAR(self->sample);
    Py_CLEAR(self->state_type);
    Py_CLEAR(self->tracker_type);
    return 0;
}

static void feeder_dealloc(PyObject *op) {
    PyObject_GC_UnTrack(op);
    feeder_clear(op);
    Py_TYPE(op)->tp_free(op);
}

static PyTypeObject FeederType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "market_making_bot.feed._hotpath.Feeder",
    .tp_basicsize = sizeof(Feeder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Core.feed's simple case in C (see the module source).",
    .tp_vectorcall_offset = offsetof(Feeder, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_traverse = feeder_traverse,
    .tp_clear = feeder_clear,
    .tp_dealloc = feeder_dealloc,
};

/* feeder(core, feed, rest, sample, every, MarketDataState, SequenceTracker) -> the Core's ``feed``. */
static PyObject *hot_feeder(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *core, *feed, *rest, *sample, *st, *tt;
    long every;
    if (!PyArg_ParseTuple(args, "OOOOlO!O!", &core, &feed, &rest, &sample, &every, &PyType_Type, &st, &PyType_Type,
                          &tt))
        return NULL;
    if (delta_cls == NULL || ticker_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() was not called with the ticker and trade classes");
        return NULL;
    }
    if (every < 1 || every > 256) {
        PyErr_SetString(PyExc_ValueError, "every must be in 1..256 (cached small ints)");
        return NULL;
    }
    Py_ssize_t off_markets = slot_offset(st, "markets"), off_last_seq = slot_offset(tt, "last_seq");
    if (off_markets < 0 || off_last_seq < 0) return NULL;
    PyObject *dict = PyObject_GetAttrString(core, "__dict__");
    if (dict == NULL) return NULL;
    if (!PyDict_CheckExact(dict)) {
        Py_DECREF(dict);
        PyErr_SetString(PyExc_TypeError, "the core's __dict__ is not a dict");
        return NULL;
    }
    static const char *held[7] = {"counters", "_by_type", "_l_changed", "_l_ticker", "_l_trade", "_l_fill",
                                  "_l_position"};
    PyObject *v[7];
    for (int i = 0; i < 7; i++) {
        v[i] = PyDict_GetItemString(dict, held[i]); /* borrowed */
        if (v[i] == NULL || (i < 2 ? !PyDict_CheckExact(v[i]) : !PyList_CheckExact(v[i]))) {
            Py_DECREF(dict);
            PyErr_Format(PyExc_TypeError, "the core's %s is missing or of another type", held[i]);
            return NULL;
        }
    }
    Feeder *f = PyObject_GC_New(Feeder, &FeederType);
    if (f == NULL) {
        Py_DECREF(dict);
        return NULL;
    }
    f->vectorcall = feeder_call;
    Py_INCREF(core);
    f->core = core;
    f->dict = dict;
    f->counters = Py_NewRef(v[0]);
    f->by_type = Py_NewRef(v[1]);
    f->l_changed = Py_NewRef(v[2]);
    f->l_ticker = Py_NewRef(v[3]);
    f->l_trade = Py_NewRef(v[4]);
    f->l_fill = Py_NewRef(v[5]);
    f->l_position = Py_NewRef(v[6]);
    f->feed = Py_NewRef(feed);
    f->rest = Py_NewRef(rest);
    f->sample = Py_NewRef(sample);
    f->state_type = (PyTypeObject *)Py_NewRef(st);
    f->tracker_type = (PyTypeObject *)Py_NewRef(tt);
    f->off_markets = off_markets;
    f->off_last_seq = off_last_seq;
    f->every = every;
    PyObject_GC_Track((PyObject *)f);
    return (PyObject *)f;
}

/* The classes ``add_trade``'s C twin reads (RecentIds, VolumeStats, VolumeTotals, from MarketState's module;
 * collections.deque and its C functions) and their slots' offsets: 0, or -1 with TypeError. */
static int deque_fn(PyObject *deque, const char *name, int flags, PyCFunction *out) {
    PyObject *d = PyObject_GetAttrString(deque, name);
    if (d == NULL) return -1;
    int ok = Py_IS_TYPE(d, &PyMethodDescr_Type) && ((PyMethodDescrObject *)d)->d_method->ml_flags == flags;
    if (ok) *out = ((PyMethodDescrObject *)d)->d_method->ml_meth;
    Py_DECREF(d);
    if (!ok) PyErr_Format(PyExc_TypeError, "deque.%s is not the C method expected", name);
    return ok ? 0 : -1;
}

static int trade_setup(PyObject *mt) {
    PyObject *collections = PyImport_ImportModule("collections");
    if (collections == NULL) return -1;
    PyObject *deque = PyObject_GetAttrString(collections, "deque");
    Py_DECREF(collections);
    if (deque == NULL) return -1;
    int rc = -1;
    PyObject *cls[3] = {NULL, NULL, NULL};
    static const char *names[3] = {"RecentIds", "VolumeStats", "VolumeTotals"};
    PyObject *mod = NULL, *modname = PyObject_GetAttrString(mt, "__module__");
    if (modname == NULL || (mod = PyImport_Import(modname)) == NULL) goto done;
    for (int i = 0; i < 3; i++) {
        cls[i] = PyObject_GetAttrString(mod, names[i]);
        if (cls[i] == NULL) goto done;
        if (!PyType_Check(cls[i])) {
            PyErr_Format(PyExc_TypeError, "%s is not a class", names[i]);
            goto done;
        }
    }
    if (!PyType_Check(deque) || deque_fn(deque, "append", METH_O, &dq_append) < 0 ||
        deque_fn(deque, "popleft", METH_NOARGS, &dq_popleft) < 0 || deque_fn(deque, "pop", METH_NOARGS, &dq_pop) < 0)
        goto done;
    if ((off_trade_ids = slot_offset(mt, "_trade_ids")) < 0 || (off_trades = slot_offset(mt, "trades")) < 0 ||
        (off_trade_count = slot_offset(mt, "trade_count")) < 0 || (off_volume = slot_offset(mt, "volume")) < 0 ||
        (off_capacity = slot_offset(cls[0], "_capacity")) < 0 || (off_ids = slot_offset(cls[0], "_ids")) < 0 ||
        (off_order = slot_offset(cls[0], "_order")) < 0 || (off_recent = slot_offset(cls[1], "_recent")) < 0 ||
        (off_window = slot_offset(cls[1], "_window")) < 0 || (off_total = slot_offset(cls[1], "total")) < 0 ||
        (off_window_ns = slot_offset(cls[1], "window_ns")) < 0)
        goto done;
    for (int i = 0; i < 6; i++)
        if ((off_totals[i] = slot_offset(cls[2], totals_slots[i])) < 0) goto done;
    /* held for good (module-level classes) */
    deque_type = (PyTypeObject *)Py_NewRef(deque);
    ids_type = (PyTypeObject *)Py_NewRef(cls[0]);
    volume_type = (PyTypeObject *)Py_NewRef(cls[1]);
    totals_type = (PyTypeObject *)Py_NewRef(cls[2]);
    rc = 0;
done:
    Py_XDECREF(modname);
    Py_XDECREF(mod);
    for (int i = 0; i < 3; i++) Py_XDECREF(cls[i]);
    Py_DECREF(deque);
    return rc;
}

/* setup(OrderbookDelta, MarketState, OrderBook, _Ladder, SpreadStats[, Ticker, Trade[, Fill, MarketPosition,
 * RecentIds]]): the classes, and their slots' offsets; ``frame`` needs Ticker and Trade, and takes fills and
 * positions with the last three. */
static PyObject *hot_setup(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *cls, *mt, *bt, *lt, *st, *tk = NULL, *tr = NULL, *fl = NULL, *ps = NULL, *ri = NULL;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!|O!O!O!O!O!", &PyType_Type, &cls, &PyType_Type, &mt, &PyType_Type, &bt,
                          &PyType_Type, &lt, &PyType_Type, &st, &PyType_Type, &tk, &PyType_Type, &tr, &PyType_Type,
                          &fl, &PyType_Type, &ps, &PyType_Type, &ri))
        return NULL;
    if ((fl != NULL || ps != NULL || ri != NULL) && (ri == NULL || tk == NULL)) {
        PyErr_SetString(PyExc_TypeError, "setup() takes Fill, MarketPosition and RecentIds together, after Trade");
        return NULL;
    }
    if (ri != NULL && fillpos_setup(mt, fl, ps, ri) < 0) return NULL;
    if (PyType_HasFeature((PyTypeObject *)cls, Py_TPFLAGS_HAVE_GC) ||
        (tr != NULL && PyType_HasFeature((PyTypeObject *)tr, Py_TPFLAGS_HAVE_GC))) {
        PyErr_SetString(PyExc_TypeError, "the message classes must not be tracked by the GC (gc=False)");
        return NULL;
    }
    if ((tk == NULL) != (tr == NULL)) {
        PyErr_SetString(PyExc_TypeError, "setup() takes both Ticker and Trade, or neither");
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
        (off_best = slot_offset(lt, "best")) < 0 || (off_current = slot_offset(st, "current")) < 0 ||
        (off_since = slot_offset(st, "_since")) < 0 || (off_weighted = slot_offset(st, "_weighted")) < 0 ||
        (off_duration = slot_offset(st, "duration_ns")) < 0 || (off_min = slot_offset(st, "min")) < 0 ||
        (off_max = slot_offset(st, "max")) < 0)
        return NULL;
    if (tk != NULL) {
        /* Ticker: a plain __slots__ class built with tp_alloc, so it must not have a __dict__ or an __init__
         * that the C-built object would skip past unknowingly: every slot is written. */
        if (((PyTypeObject *)tk)->tp_dictoffset != 0) {
            PyErr_SetString(PyExc_TypeError, "Ticker must have __slots__ only");
            return NULL;
        }
        for (int i = 0; i < 17; i++)
            if ((off_ticker[i] = slot_offset(tk, ticker_slots[i])) < 0) return NULL;
        for (int i = 0; i < 11; i++)
            if ((off_trade[i] = slot_offset(tr, trade_slots[i])) < 0) return NULL;
        if ((off_last_ticker = slot_offset(mt, "last_ticker")) < 0) return NULL;
        if (trade_setup(mt) < 0) return NULL;
        Py_INCREF(tk);
        Py_INCREF(tr);
        ticker_type = (PyTypeObject *)tk;
        trade_type = (PyTypeObject *)tr;
    }
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
    {"frame", (PyCFunction)(void (*)(void))hot_frame, METH_FASTCALL,
     "The delta, ticker and trade paths in C (see the module source)."},
    {"setup", hot_setup, METH_VARARGS,
     "setup(OrderbookDelta, MarketState, OrderBook, _Ladder, SpreadStats[, Ticker, Trade[, Fill, MarketPosition, "
     "RecentIds]])."},
    {"feeder", hot_feeder, METH_VARARGS,
     "feeder(core, feed, rest, sample, every, MarketDataState, SequenceTracker): Core.feed's simple case in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hotpath", "The compiled delta, ticker and trade paths (issue 17).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__hotpath(void) {
    kwnames = Py_BuildValue("(sssssssssss)", "sid", "seq", "id", "sending_ts_ms", "market_ticker", "side", "price",
                            "delta", "ts_ms", "clock", "client_order_id");
    if (kwnames == NULL) return NULL;
    if ((s_yes = PyUnicode_InternFromString("yes")) == NULL) return NULL;
    if ((s_no = PyUnicode_InternFromString("no")) == NULL) return NULL;
    if ((s_delta_type = PyUnicode_InternFromString("orderbook_delta")) == NULL) return NULL;
    if ((s_ticker_type = PyUnicode_InternFromString("ticker")) == NULL) return NULL;
    if ((s_trade_type = PyUnicode_InternFromString("trade")) == NULL) return NULL;
    if ((s_frames = PyUnicode_InternFromString("frames")) == NULL) return NULL;
    if ((s_state = PyUnicode_InternFromString("state")) == NULL) return NULL;
    if ((s_sequence = PyUnicode_InternFromString("sequence")) == NULL) return NULL;
    if ((s_restart_at = PyUnicode_InternFromString("_restart_at")) == NULL) return NULL;
    if ((s_latency_skip = PyUnicode_InternFromString("_latency_skip")) == NULL) return NULL;
    if (PyType_Ready(&FeederType) < 0) return NULL;
    return PyModule_Create(&module);
}
