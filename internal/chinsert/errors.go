package chinsert

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Error is an answer from ClickHouse (or from a proxy in front of it) that is not a success.
// Code is ClickHouse's error code, 0 when the answer carried none (a proxy's 502, say).
type Error struct {
	// Code is the ClickHouse error code: the X-ClickHouse-Exception-Code header (servers
	// since 19.x) or the "Code: N" that starts the body (every version, 18.16 included).
	Code int
	// Message is the exception text without its decorations ("DB::Exception: ",
	// ", e.what() = …", "(version …)"), or the start of the body when there is no code.
	Message string
	// Endpoint is the endpoint that answered, without credentials.
	Endpoint string
	// Status is the HTTP status code. ClickHouse 18.16 answers 401 for authentication
	// errors, 404 for an unknown table or database, 400 for a syntax error, 500 for most
	// others, and 200 if the exception came after the answer had started.
	Status int
	// QueryID is the request's query_id, if the caller set one.
	QueryID string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("clickhouse at ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	if e.Code != 0 {
		b.WriteString("code ")
		b.WriteString(strconv.Itoa(e.Code))
		if name := CodeName(e.Code); name != "" {
			b.WriteString(" ")
			b.WriteString(name)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	b.WriteString(" (HTTP ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.QueryID != "" {
		b.WriteString(", query_id ")
		b.WriteString(e.QueryID)
	}
	b.WriteString(")")
	return b.String()
}

// NetError is a request that got no answer: the connection could not be made, broke, or the
// server did not answer within the request timeout.
type NetError struct {
	// Endpoint is the endpoint tried, without credentials.
	Endpoint string
	// Sent is true when some of the request body had been handed to the connection, so the
	// server may have received all of it and may insert (or have inserted) its rows. When it
	// is false the server cannot have inserted anything from this attempt.
	Sent bool
	// Timeout is true when the request timeout (or the dial timeout) expired.
	Timeout bool
	// Err is the cause: a *net.OpError, context.DeadlineExceeded, context.Canceled, io.EOF…
	Err error
}

func (e *NetError) Error() string {
	var b strings.Builder
	b.WriteString("clickhouse at ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	if e.Timeout {
		b.WriteString("timeout: ")
	}
	b.WriteString(e.Err.Error())
	if e.Sent {
		b.WriteString(" (after sending data: the rows may have been inserted)")
	}
	return b.String()
}

func (e *NetError) Unwrap() error { return e.Err }

// Sentinel errors, for errors.Is.
var (
	// ErrInvalidRequest is a request the client refuses before sending it: no table, no
	// body, a reserved setting name. It is a bug in the caller and permanent.
	ErrInvalidRequest = errors.New("chinsert: invalid request")
	// ErrResponseTooLarge is a Query answer longer than Options.MaxResponseBytes.
	ErrResponseTooLarge = errors.New("chinsert: response too large")
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("chinsert: client closed")
)

// codeClass says what a ClickHouse error code means for the caller.
type codeClass uint8

const (
	retryable codeClass = iota // default for every code not in the table
	permanent                  // the same request will fail the same way
	auth                       // permanent, and the credentials or grants are wrong
)

type codeInfo struct {
	name  string
	class codeClass
	// maybeInserted: the server does not know whether the rows went in.
	maybeInserted bool
}

// codes classifies the ClickHouse error codes that an INSERT … FORMAT Native or a small
// SELECT over HTTP can meet. Names are ClickHouse's (src/Common/ErrorCodes.cpp); 368 is
// 18.16's BAD_CAST, since removed. A code that is not listed is retryable: retrying a
// request that could have succeeded costs a retry, dropping it costs data, and the caller's
// queue bounds how long a batch is retried.
//
//	code  name                                   class
//	   6  CANNOT_PARSE_TEXT                      permanent
//	   9  SIZES_OF_COLUMNS_DOESNT_MATCH          permanent
//	  10  NOT_FOUND_COLUMN_IN_BLOCK              permanent
//	  12  PARAMETER_OUT_OF_BOUND                 permanent  (a bad setting value)
//	  15  DUPLICATE_COLUMN                       permanent
//	  16  NO_SUCH_COLUMN_IN_TABLE                permanent  (a column list naming a missing column)
//	  19  SIZE_OF_FIXED_STRING_DOESNT_MATCH      permanent
//	  20  NUMBER_OF_COLUMNS_DOESNT_MATCH         permanent
//	  27  CANNOT_PARSE_INPUT_ASSERTION_FAILED    permanent
//	  32  ATTEMPT_TO_READ_AFTER_EOF              permanent  (a truncated or corrupt block; retryable from another server)
//	  33  CANNOT_READ_ALL_DATA                   permanent  (a truncated or corrupt block; retryable from another server)
//	  36  BAD_ARGUMENTS                          permanent
//	  39  TOO_LARGE_SIZE_COMPRESSED              permanent  (a compressed frame over 1 GiB)
//	  40  CHECKSUM_DOESNT_MATCH                  permanent  (a corrupt compressed frame)
//	  41  CANNOT_PARSE_DATETIME                  permanent
//	  43  ILLEGAL_TYPE_OF_ARGUMENT               permanent
//	  44  ILLEGAL_COLUMN                         permanent
//	  46  UNKNOWN_FUNCTION                       permanent
//	  47  UNKNOWN_IDENTIFIER                     permanent
//	  48  NOT_IMPLEMENTED                        permanent  (an engine that takes no inserts)
//	  50  UNKNOWN_TYPE                           permanent
//	  53  TYPE_MISMATCH                          permanent
//	  60  UNKNOWN_TABLE                          permanent  (IsUnknownTable)
//	  62  SYNTAX_ERROR                           permanent  (also a Native block with the per-column flag of newer protocol versions)
//	  69  ARGUMENT_OUT_OF_BOUND                  permanent
//	  70  CANNOT_CONVERT_TYPE                    permanent
//	  72  CANNOT_PARSE_NUMBER                    permanent
//	  73  UNKNOWN_FORMAT                         permanent
//	  81  UNKNOWN_DATABASE                       permanent  (IsUnknownDatabase)
//	  89  UNKNOWN_COMPRESSION_METHOD             permanent
//	 115  UNKNOWN_SETTING                        permanent
//	 117  INCORRECT_DATA                         permanent
//	 128  TOO_LARGE_ARRAY_SIZE                   permanent
//	 131  TOO_LARGE_STRING_SIZE                  permanent
//	 158  TOO_MANY_ROWS                          permanent  (a query over its read limits)
//	 164  READONLY                               auth       (the user may not write)
//	 190  SIZES_OF_ARRAYS_DOESNT_MATCH           permanent
//	 192  UNKNOWN_USER                           auth
//	 193  WRONG_PASSWORD                         auth
//	 194  REQUIRED_PASSWORD                      auth
//	 195  IP_ADDRESS_NOT_ALLOWED                 auth
//	 229  QUERY_IS_TOO_LARGE                     permanent
//	 271  CANNOT_DECOMPRESS                      permanent
//	 291  DATABASE_ACCESS_DENIED                 auth
//	 349  CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN  permanent
//	 354  ZLIB_INFLATE_FAILED                    permanent
//	 368  BAD_CAST                               permanent  (18.16: a block column whose type differs from the table's)
//	 381  HTTP_LENGTH_REQUIRED                   permanent
//	 395  FUNCTION_THROW_IF_VALUE_IS_NON_ZERO    permanent
//	 396  TOO_MANY_ROWS_OR_BYTES                 permanent
//	 452  SETTING_CONSTRAINT_VIOLATION           permanent
//	 469  VIOLATED_CONSTRAINT                    permanent
//	 471  INVALID_SETTING_VALUE                  permanent
//	 472  READONLY_SETTING                       permanent
//	 497  ACCESS_DENIED                          auth
//	 516  AUTHENTICATION_FAILED                  auth       (servers since 20.x; 18.16 says 192/193)
//
//	  23  CANNOT_READ_FROM_ISTREAM               retryable
//	  49  LOGICAL_ERROR                          retryable  (a server bug; may be transient)
//	  95  CANNOT_READ_FROM_SOCKET                retryable
//	  96  CANNOT_WRITE_TO_SOCKET                 retryable
//	 159  TIMEOUT_EXCEEDED                       retryable
//	 160  TOO_SLOW                               retryable
//	 173  CANNOT_ALLOCATE_MEMORY                 retryable
//	 201  QUOTA_EXPIRED                          retryable
//	 202  TOO_MANY_SIMULTANEOUS_QUERIES          retryable
//	 203  NO_FREE_CONNECTION                     retryable
//	 209  SOCKET_TIMEOUT                         retryable
//	 210  NETWORK_ERROR                          retryable
//	 216  QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING  retryable  (an earlier attempt with this query_id still runs on that server)
//	 218  TABLE_IS_DROPPED                       retryable
//	 225  NO_ZOOKEEPER                           retryable
//	 236  ABORTED                                retryable
//	 241  MEMORY_LIMIT_EXCEEDED                  retryable
//	 242  TABLE_IS_READ_ONLY                     retryable  (ZooKeeper away)
//	 243  NOT_ENOUGH_SPACE                       retryable
//	 244  UNEXPECTED_ZOOKEEPER_ERROR             retryable
//	 252  TOO_MANY_PARTS                         retryable
//	 254  NO_ACTIVE_REPLICAS                     retryable
//	 279  ALL_CONNECTION_TRIES_FAILED            retryable  (a shard down under insert_distributed_sync=1)
//	 285  TOO_FEW_LIVE_REPLICAS                  retryable
//	 286  UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE  retryable
//	 319  UNKNOWN_STATUS_OF_INSERT               retryable, may have been inserted (quorum insert)
//	 394  QUERY_WAS_CANCELLED                    retryable
//	 425  SYSTEM_ERROR                           retryable
//	 439  CANNOT_SCHEDULE_TASK                   retryable
//	 999  KEEPER_EXCEPTION                       retryable
//	1000  POCO_EXCEPTION                         retryable
//	1002  UNKNOWN_EXCEPTION                      retryable
//
// Answers without a code (from a proxy, or a server that is not ClickHouse): 401 and 403 are
// auth, 408, 429 and 5xx retryable, other statuses permanent.
var codes = map[int]codeInfo{
	6:   {"CANNOT_PARSE_TEXT", permanent, false},
	9:   {"SIZES_OF_COLUMNS_DOESNT_MATCH", permanent, false},
	10:  {"NOT_FOUND_COLUMN_IN_BLOCK", permanent, false},
	12:  {"PARAMETER_OUT_OF_BOUND", permanent, false},
	15:  {"DUPLICATE_COLUMN", permanent, false},
	16:  {"NO_SUCH_COLUMN_IN_TABLE", permanent, false},
	19:  {"SIZE_OF_FIXED_STRING_DOESNT_MATCH", permanent, false},
	20:  {"NUMBER_OF_COLUMNS_DOESNT_MATCH", permanent, false},
	27:  {"CANNOT_PARSE_INPUT_ASSERTION_FAILED", permanent, false},
	32:  {"ATTEMPT_TO_READ_AFTER_EOF", permanent, false},
	33:  {"CANNOT_READ_ALL_DATA", permanent, false},
	36:  {"BAD_ARGUMENTS", permanent, false},
	39:  {"TOO_LARGE_SIZE_COMPRESSED", permanent, false},
	40:  {"CHECKSUM_DOESNT_MATCH", permanent, false},
	41:  {"CANNOT_PARSE_DATETIME", permanent, false},
	43:  {"ILLEGAL_TYPE_OF_ARGUMENT", permanent, false},
	44:  {"ILLEGAL_COLUMN", permanent, false},
	46:  {"UNKNOWN_FUNCTION", permanent, false},
	47:  {"UNKNOWN_IDENTIFIER", permanent, false},
	48:  {"NOT_IMPLEMENTED", permanent, false},
	50:  {"UNKNOWN_TYPE", permanent, false},
	53:  {"TYPE_MISMATCH", permanent, false},
	60:  {"UNKNOWN_TABLE", permanent, false},
	62:  {"SYNTAX_ERROR", permanent, false},
	69:  {"ARGUMENT_OUT_OF_BOUND", permanent, false},
	70:  {"CANNOT_CONVERT_TYPE", permanent, false},
	72:  {"CANNOT_PARSE_NUMBER", permanent, false},
	73:  {"UNKNOWN_FORMAT", permanent, false},
	81:  {"UNKNOWN_DATABASE", permanent, false},
	89:  {"UNKNOWN_COMPRESSION_METHOD", permanent, false},
	115: {"UNKNOWN_SETTING", permanent, false},
	117: {"INCORRECT_DATA", permanent, false},
	128: {"TOO_LARGE_ARRAY_SIZE", permanent, false},
	131: {"TOO_LARGE_STRING_SIZE", permanent, false},
	158: {"TOO_MANY_ROWS", permanent, false},
	164: {"READONLY", auth, false},
	190: {"SIZES_OF_ARRAYS_DOESNT_MATCH", permanent, false},
	192: {"UNKNOWN_USER", auth, false},
	193: {"WRONG_PASSWORD", auth, false},
	194: {"REQUIRED_PASSWORD", auth, false},
	195: {"IP_ADDRESS_NOT_ALLOWED", auth, false},
	229: {"QUERY_IS_TOO_LARGE", permanent, false},
	271: {"CANNOT_DECOMPRESS", permanent, false},
	291: {"DATABASE_ACCESS_DENIED", auth, false},
	349: {"CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN", permanent, false},
	354: {"ZLIB_INFLATE_FAILED", permanent, false},
	368: {"BAD_CAST", permanent, false},
	381: {"HTTP_LENGTH_REQUIRED", permanent, false},
	395: {"FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", permanent, false},
	396: {"TOO_MANY_ROWS_OR_BYTES", permanent, false},
	452: {"SETTING_CONSTRAINT_VIOLATION", permanent, false},
	469: {"VIOLATED_CONSTRAINT", permanent, false},
	471: {"INVALID_SETTING_VALUE", permanent, false},
	472: {"READONLY_SETTING", permanent, false},
	497: {"ACCESS_DENIED", auth, false},
	516: {"AUTHENTICATION_FAILED", auth, false},

	23:   {"CANNOT_READ_FROM_ISTREAM", retryable, false},
	49:   {"LOGICAL_ERROR", retryable, false},
	95:   {"CANNOT_READ_FROM_SOCKET", retryable, false},
	96:   {"CANNOT_WRITE_TO_SOCKET", retryable, false},
	159:  {"TIMEOUT_EXCEEDED", retryable, false},
	160:  {"TOO_SLOW", retryable, false},
	173:  {"CANNOT_ALLOCATE_MEMORY", retryable, false},
	201:  {"QUOTA_EXPIRED", retryable, false},
	202:  {"TOO_MANY_SIMULTANEOUS_QUERIES", retryable, false},
	203:  {"NO_FREE_CONNECTION", retryable, false},
	209:  {"SOCKET_TIMEOUT", retryable, false},
	210:  {"NETWORK_ERROR", retryable, false},
	216:  {"QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING", retryable, false},
	218:  {"TABLE_IS_DROPPED", retryable, false},
	225:  {"NO_ZOOKEEPER", retryable, false},
	236:  {"ABORTED", retryable, false},
	241:  {"MEMORY_LIMIT_EXCEEDED", retryable, false},
	242:  {"TABLE_IS_READ_ONLY", retryable, false},
	243:  {"NOT_ENOUGH_SPACE", retryable, false},
	244:  {"UNEXPECTED_ZOOKEEPER_ERROR", retryable, false},
	252:  {"TOO_MANY_PARTS", retryable, false},
	254:  {"NO_ACTIVE_REPLICAS", retryable, false},
	279:  {"ALL_CONNECTION_TRIES_FAILED", retryable, false},
	285:  {"TOO_FEW_LIVE_REPLICAS", retryable, false},
	286:  {"UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE", retryable, false},
	319:  {"UNKNOWN_STATUS_OF_INSERT", retryable, true},
	394:  {"QUERY_WAS_CANCELLED", retryable, false},
	425:  {"SYSTEM_ERROR", retryable, false},
	439:  {"CANNOT_SCHEDULE_TASK", retryable, false},
	999:  {"KEEPER_EXCEPTION", retryable, false},
	1000: {"POCO_EXCEPTION", retryable, false},
	1002: {"UNKNOWN_EXCEPTION", retryable, false},
}

// ClickHouse error codes that callers test for by name.
const (
	CodeUnknownTable             = 60
	CodeUnknownDatabase          = 81
	CodeWrongPassword            = 193
	CodeQueryWithSameIDIsRunning = 216
	CodeTooManyParts             = 252
	CodeAuthenticationFailed     = 516
)

// CodeName returns ClickHouse's name for one of the codes this package classifies
// ("UNKNOWN_TABLE" for 60), or "" for another code.
func CodeName(code int) string { return codes[code].name }

// Code returns the ClickHouse error code in err's chain, or 0 if there is none.
func Code(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// IsPermanent reports whether retrying the request that returned err cannot succeed without
// a change elsewhere (the schema, the data, the credentials): ClickHouse refused it with one
// of the permanent or auth codes listed at codes, a proxy answered with a 4xx other than 408
// and 429, or the request was invalid. Network errors, timeouts, codeless 5xx answers and
// every other code are not permanent. IsPermanent(nil) is false.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidRequest) || errors.Is(err, ErrResponseTooLarge) {
		return true
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Code != 0 {
		return codes[e.Code].class != retryable && !e.readFromAnotherServer()
	}
	return !retryableStatus(e.Status)
}

// readFromAnotherServer reports whether e is a read error (codes 32 and 33, which otherwise
// mean a truncated or corrupt body) on the connection from the server that answered to
// another one: a Distributed INSERT's shard that went away mid-insert ("while receiving packet
// from host:port"), or one that could not read what that server sent it ("Received from
// host:port"). The body was read whole by the server that answered; the shards written before
// the failure may have their rows. Splitting the batch to find a bad block would send other
// blocks, which their replicated deduplication does not recognise: such an error is
// retryable, and the rows may be in.
func (e *Error) readFromAnotherServer() bool {
	return (e.Code == 32 || e.Code == 33) &&
		(strings.Contains(e.Message, "while receiving packet from ") || strings.Contains(e.Message, "Received from "))
}

// IsAuth reports whether err says the credentials are wrong or lack a grant: an unknown
// user, a wrong or missing password, an address the user may not connect from, a denied
// database or table, a read-only user; or a codeless 401 or 403 from a proxy. weir refuses
// to start on such an error.
func IsAuth(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Code != 0 {
		return codes[e.Code].class == auth
	}
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// IsUnknownDatabase reports whether err is ClickHouse's UNKNOWN_DATABASE (81).
func IsUnknownDatabase(err error) bool { return Code(err) == CodeUnknownDatabase }

// IsUnknownTable reports whether err is ClickHouse's UNKNOWN_TABLE (60).
func IsUnknownTable(err error) bool { return Code(err) == CodeUnknownTable }

// MaybeInserted reports whether the rows of the Insert that returned err may be in the table
// all the same: the request got no answer after its body had (at least partly) been sent (a
// timeout, a connection that broke), a proxy answered 5xx without a ClickHouse code, or the
// server answered UNKNOWN_STATUS_OF_INSERT (319). A caller that must not store rows twice
// checks before resending (for example by counting an insert ID it wrote into the rows), or
// relies on ReplicatedMergeTree's deduplication of identical blocks.
//
// When it is false, an Insert whose body holds at most min_insert_block_size_rows rows
// (1,048,576 by default) and min_insert_block_size_bytes (256 MiB) inserted nothing: the
// server squashes such a body into one block and writes it only after reading all of it.
// A larger body is written in pieces as the thresholds fill, and an error can come after
// some pieces are in.
func MaybeInserted(err error) bool {
	if err == nil {
		return false
	}
	var ne *NetError
	if errors.As(err, &ne) {
		return ne.Sent
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Code != 0 {
			return codes[e.Code].maybeInserted || e.readFromAnotherServer()
		}
		return e.Status >= 500
	}
	return false
}

// retryableStatus is the class of an HTTP status that came without a ClickHouse code.
func retryableStatus(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// maxMessage bounds Error.Message; a syntax error lists every expected token and a stack
// trace can follow the message.
const maxMessage = 8 << 10

// parseError turns a failed answer into an *Error. header may be nil.
func parseError(endpoint string, status int, header http.Header, body []byte) *Error {
	e := &Error{Endpoint: endpoint, Status: status}
	if header != nil {
		if v := header.Get("X-ClickHouse-Exception-Code"); v != "" {
			if c, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				e.Code = c
			}
		}
	}
	code, msg, ok := parseException(body)
	if ok {
		if e.Code == 0 {
			e.Code = code
		}
		e.Message = msg
	} else {
		e.Message = string(bytes.TrimSpace(body))
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
	}
	if len(e.Message) > maxMessage {
		e.Message = e.Message[:maxMessage] + "…"
	}
	return e
}

// parseException reads the "Code: N" exception that starts body, or else the last one that
// starts a line, and returns its code and message. It reads the formats servers have used:
//
//	Code: 60, e.displayText() = DB::Exception: Table x.y doesn't exist., e.what() = DB::Exception   (18.x)
//	Code: 60, e.displayText() = DB::Exception: Table x.y doesn't exist. (version 20.3.1.1)          (19.x, 20.x)
//	Code: 60. DB::Exception: Table x.y does not exist. (UNKNOWN_TABLE) (version 23.8.1.1)           (21.x and later)
//
// A SELECT that fails after its answer started appends the exception to the rows already
// sent, hence the last line.
func parseException(body []byte) (code int, msg string, ok bool) {
	body = bytes.TrimSpace(body)
	var rest []byte
	if bytes.HasPrefix(body, []byte("Code: ")) {
		rest = body[len("Code: "):]
	} else if i := bytes.LastIndex(body, []byte("\nCode: ")); i >= 0 {
		rest = body[i+len("\nCode: "):]
	} else {
		return 0, "", false
	}
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j == 0 || j > 9 {
		return 0, "", false
	}
	code, _ = strconv.Atoi(string(rest[:j]))
	s := string(bytes.TrimSpace(rest[j:]))
	s = strings.TrimPrefix(s, ",")
	s = strings.TrimPrefix(s, ".")
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "e.displayText() = ")
	s = strings.TrimPrefix(s, "DB::Exception: ")
	// A stack trace (stacktrace=1, or some server builds) follows the message on new lines.
	if k := strings.Index(s, "\nStack trace"); k >= 0 {
		s = s[:k]
	}
	if k := strings.LastIndex(s, ", e.what() = "); k >= 0 {
		s = s[:k]
	}
	s = strings.TrimSpace(s)
	if k := strings.LastIndex(s, " (version "); k >= 0 && strings.HasSuffix(s, ")") {
		s = strings.TrimSpace(s[:k])
	}
	// "(UNKNOWN_TABLE)": the name newer servers append; CodeName gives it back.
	if strings.HasSuffix(s, ")") {
		if k := strings.LastIndex(s, " ("); k >= 0 && isCodeName(s[k+2:len(s)-1]) {
			s = strings.TrimSpace(s[:k])
		}
	}
	return code, s, true
}

func isCodeName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
