package reqlog

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// A Match is how a client's log and a server's log of the same run agree,
// request for request.
type Match struct {
	// Requests is the requests both logged: the k-th request on a
	// connection in one log is the k-th on it in the other (HTTP/1.1
	// sends one request at a time on a connection).
	Requests int
	// Whole is those with the same bytes on both sides (and the same
	// status, where the client got one): responses the client read whole.
	Whole int
	// Cut is those the client stopped reading (its context canceled, or
	// the body closed early), the server having written more than it read:
	// ServerBytes and ClientBytes are their bytes on either side.
	Cut                      int
	ServerBytes, ClientBytes int64
	// Unsent is the client's requests that never had a connection (a
	// dial that failed, a context canceled first): the server cannot
	// have seen them.
	Unsent int
}

// Compare matches a client's log against a server's, connection by
// connection in the order of their answers, and returns how they agree, or an error naming the first
// request that the two disagree on: a connection with more requests on
// one side, a different operation or key, or a response the client read
// more of than the server wrote, or read whole with other bytes.
func Compare(client, server []Record) (Match, error) {
	var m Match
	byConn := func(recs []Record, side string) (map[string][]Record, error) {
		out := map[string][]Record{}
		for _, r := range recs {
			if r.Conn == "" {
				if side == "server" {
					return nil, fmt.Errorf("server request %s %s at %v: no connection", r.Op, r.Key, r.Start)
				}
				m.Unsent++
				continue
			}
			out[r.Conn] = append(out[r.Conn], r)
		}
		for _, rs := range out {
			// By the response's headers (or the end, for a request
			// without them): a connection answers one request at a
			// time, so these come in its order on both sides, where a
			// client's starts, taken before it waits for a connection,
			// may not.
			slices.SortStableFunc(rs, func(a, b Record) int { return answered(a).Compare(answered(b)) })
		}
		return out, nil
	}
	cs, err := byConn(client, "client")
	if err != nil {
		return m, err
	}
	ss, err := byConn(server, "server")
	if err != nil {
		return m, err
	}
	conns := make([]string, 0, len(cs)+len(ss))
	for c := range cs {
		conns = append(conns, c)
	}
	for c := range ss {
		if _, ok := cs[c]; !ok {
			conns = append(conns, c)
		}
	}
	slices.SortFunc(conns, cmp.Compare)
	for _, conn := range conns {
		c, s := cs[conn], ss[conn]
		if len(c) != len(s) {
			return m, fmt.Errorf("connection %s: the client logged %d requests, the server %d", conn, len(c), len(s))
		}
		for k := range c {
			cr, sr := c[k], s[k]
			switch {
			case cr.Op != sr.Op || cr.Key != sr.Key:
				return m, fmt.Errorf("connection %s, request %d: the client sent %s %s, the server saw %s %s", conn, k+1, cr.Op, cr.Key, sr.Op, sr.Key)
			case cr.Bytes > sr.Bytes:
				return m, fmt.Errorf("connection %s, request %d (%s %s): the client read %d bytes, the server wrote %d", conn, k+1, cr.Op, cr.Key, cr.Bytes, sr.Bytes)
			case cr.Bytes < sr.Bytes:
				m.Cut++
				m.ServerBytes += sr.Bytes
				m.ClientBytes += cr.Bytes
			case cr.Status != sr.Status && isHTTP(cr.Status):
				return m, fmt.Errorf("connection %s, request %d (%s %s): status %s at the client, %s at the server", conn, k+1, cr.Op, cr.Key, cr.Status, sr.Status)
			default:
				m.Whole++
			}
			m.Requests++
		}
	}
	return m, nil
}

// answered returns when r's response headers came, or r's end if none did.
func answered(r Record) time.Time {
	if r.FirstByte > 0 {
		return r.Start.Add(r.FirstByte)
	}
	return r.End()
}

// isHTTP reports whether status is an HTTP status code, not a word.
func isHTTP(status string) bool {
	_, err := strconv.Atoi(status)
	return err == nil
}
