package focus

import (
	"bytes"
	"errors"
	"io"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture is the real FOCUS 1.0 sample (see its README).
const fixture = "testdata/focus-1.0-sample.csv"

// readAll reads every row, copying each, and collects the row errors.
func readAll(t *testing.T, in io.Reader) (*Reader, []Row, []*RowError) {
	t.Helper()
	rd, err := NewReader(in)
	require.NoError(t, err)
	defer rd.Close()
	var rows []Row
	var bad []*RowError
	for {
		r, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *RowError
		if errors.As(err, &re) {
			bad = append(bad, re)
			continue
		}
		require.NoError(t, err)
		c := *r
		c.TagKeys = append([]string(nil), r.TagKeys...)
		c.TagValues = append([]string(nil), r.TagValues...)
		c.ExtraKeys = append([]string(nil), r.ExtraKeys...)
		c.ExtraValues = append([]string(nil), r.ExtraValues...)
		rows = append(rows, c)
	}
	return rd, rows, bad
}

func extra(r Row, key string) (string, bool) {
	for i, k := range r.ExtraKeys {
		if k == key {
			return r.ExtraValues[i], true
		}
	}
	return "", false
}

func TestReader_Fixture(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(fixture)
	require.NoError(t, err)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	for name, in := range map[string][]byte{"plain": data, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rd, rows, bad := readAll(t, bytes.NewReader(in))
			assert.Empty(t, bad)
			require.Len(t, rows, 1000)
			assert.Equal(t, "1.0", rd.Version())

			first := rows[0]
			assert.Equal(t, uint64(2), first.LineNumber)
			assert.Equal(t, "AWS", first.Provider)
			assert.Equal(t, "Amazon Web Services, Inc.", first.Publisher)
			assert.Equal(t, "1234567890123", first.BillingAccountID)
			assert.Equal(t, time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC), first.BillingPeriodStart)
			assert.Equal(t, time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC), first.BillingPeriodEnd)
			assert.Equal(t, time.Date(2024, 9, 18, 22, 0, 0, 0, time.UTC), first.ChargePeriodStart)
			assert.Equal(t, 0.0000008, first.BilledCost)
			assert.Equal(t, 2.0, first.ConsumedQuantity)
			assert.Equal(t, "Amazon Simple Queue Service", first.ServiceName)
			// NULL is empty.
			assert.Empty(t, first.ChargeClass)
			assert.Empty(t, first.ResourceName)
			assert.Empty(t, first.TagKeys)
			_, ok := extra(first, "CommitmentDiscountId")
			assert.False(t, ok, "null extras are not kept")
			// Known FOCUS columns without a field, and the non-standard Id, are extras.
			id, ok := extra(first, "Id")
			assert.True(t, ok)
			assert.Equal(t, "11472", id)
			price, _ := extra(first, "ListUnitPrice")
			assert.Equal(t, "0.0000004", price)

			second := rows[1]
			assert.Equal(t, []string{"application", "environment", "business_unit"}, second.TagKeys)
			assert.Equal(t, []string{"BrightLensMatrix", "dev", "ViennaAI"}, second.TagValues)

			// The reader's BilledCost adds up to the CSV's own, computed exactly here.
			want := sumColumn(t, data, "BilledCost")
			var got float64
			tagged, withID := 0, 0
			for _, r := range rows {
				got += r.BilledCost
				if len(r.TagKeys) > 0 {
					tagged++
				}
				if _, ok := extra(r, "Id"); ok {
					withID++
				}
				assert.Equal(t, len(r.TagKeys), len(r.TagValues))
				assert.Equal(t, len(r.ExtraKeys), len(r.ExtraValues))
			}
			assert.InDelta(t, want, got, 1e-9)
			assert.Equal(t, 711, tagged)
			assert.Equal(t, 1000, withID)
		})
	}
}

// sumColumn adds up a CSV column exactly with big.Rat.
func sumColumn(t *testing.T, data []byte, column string) float64 {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	idx := -1
	for i, h := range strings.Split(lines[0], ",") {
		if strings.Trim(h, `"`) == column {
			idx = i
		}
	}
	require.GreaterOrEqual(t, idx, 0)
	sum := new(big.Rat)
	for _, l := range lines[1:] {
		// The columns before BilledCost hold no commas in the fixture.
		v := strings.Trim(strings.Split(l, ",")[idx], `"`)
		r, ok := new(big.Rat).SetString(v)
		require.True(t, ok, v)
		sum.Add(sum, r)
	}
	f, _ := sum.Float64()
	return f
}

func TestReader_RenamedColumnsAcrossVersions(t *testing.T) {
	t.Parallel()
	// FOCUS 1.3 with the deprecated columns still present, lower-case IDs, a BOM, x_
	// columns and zoned times.
	v13 := "\ufeffBillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost," +
		"BillingAccountId,billingaccounttype,InvoiceID,ServiceProviderName,ProviderName,HostProviderName,PublisherName," +
		"ServiceName,ServiceSubcategory,SkuMeter,PricingCurrency,x_Team,x_Discounts,Tags\n" +
		"2025-01-01T00:00:00Z,2025-02-01T00:00:00Z,2025-01-05T02:00:00+02:00,2025-01-06T00:00:00.000Z,1.5,1.25," +
		"acct,Billing Profile,INV-7,Databricks,Microsoft,Microsoft,Databricks,Lakehouse,Analytics,DBU,USD,data,NULL," +
		`"{""team"": ""data"", ""n"": 3, ""on"": true, ""empty"": null, ""nested"": {""a"": [1, 2]}}"` + "\n"
	rd, rows, bad := readAll(t, strings.NewReader(v13))
	require.Empty(t, bad)
	require.Len(t, rows, 1)
	assert.Equal(t, "1.3", rd.Version())
	r := rows[0]
	assert.Equal(t, "BillingPeriodStart", rd.Header()[0], "the BOM is dropped")
	assert.Equal(t, "Databricks", r.Provider, "ServiceProviderName wins over ProviderName")
	assert.Equal(t, "Microsoft", r.HostProvider)
	assert.Equal(t, "Databricks", r.Publisher)
	assert.Equal(t, "Billing Profile", r.BillingAccountType)
	assert.Equal(t, "INV-7", r.InvoiceID)
	assert.Equal(t, "Analytics", r.ServiceSubcategory)
	assert.Equal(t, time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC), r.ChargePeriodStart, "zoned times become UTC")
	assert.Equal(t, 1.25, r.EffectiveCost)
	assert.Equal(t, []string{"ProviderName", "SkuMeter", "PricingCurrency", "x_Team"}, r.ExtraKeys)
	assert.Equal(t, []string{"Microsoft", "DBU", "USD", "data"}, r.ExtraValues)
	assert.Equal(t, []string{"team", "n", "on", "empty", "nested"}, r.TagKeys)
	assert.Equal(t, []string{"data", "3", "true", "", `{"a":[1,2]}`}, r.TagValues)

	// FOCUS 1.2 and 1.1 are told apart by the columns they introduced.
	v12 := "BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingAccountId,ProviderName,SubAccountType,ChargeClass\n" +
		"2025-01-01,2025-02-01,2025-01-01 00:00:00,2025-01-02 00:00:00,2,a,AWS,Account,Correction\n"
	rd, rows, bad = readAll(t, strings.NewReader(v12))
	require.Empty(t, bad)
	assert.Equal(t, "1.2", rd.Version())
	assert.Equal(t, "AWS", rows[0].Provider)
	assert.Equal(t, "Account", rows[0].SubAccountType)
	assert.Equal(t, "Correction", rows[0].ChargeClass)
	assert.Equal(t, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), rows[0].BillingPeriodStart, "a bare date is midnight UTC")

	// 0.5 and 1.0-preview column IDs map onto today's fields.
	v05 := "BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,AmortizedCost,BillingAccountId," +
		"ChargeType,UsageQuantity,UsageUnit,Region\n" +
		"2023-06-01 00:00:00,2023-07-01 00:00:00,2023-06-02 00:00:00,2023-06-03 00:00:00,3,2.5,a,Usage,7,Hours,eu-west-1\n"
	rd, rows, bad = readAll(t, strings.NewReader(v05))
	require.Empty(t, bad)
	assert.Equal(t, "0.5", rd.Version())
	r = rows[0]
	assert.Equal(t, 2.5, r.EffectiveCost)
	assert.Equal(t, "Usage", r.ChargeCategory)
	assert.Equal(t, 7.0, r.ConsumedQuantity)
	assert.Equal(t, "Hours", r.ConsumedUnit)
	assert.Equal(t, "eu-west-1", r.RegionID)
	assert.Empty(t, r.ExtraKeys)
}

func TestReader_BadRows(t *testing.T) {
	t.Parallel()
	in := "BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingAccountId,ServiceName,Tags\n" + // 1
		"2024-09-01,2024-10-01,2024-09-02 00:00:00,2024-09-03 00:00:00,1,a,good one,NULL\n" + // 2
		"2024-09-01,2024-10-01,2024-09-02 00:00:00,2024-09-03 00:00:00,1,a,too few\n" + // 3
		"2024-09-01,2024-10-01,2024-09-02 00:00:00,2024-09-03 00:00:00,abc,a,bad number,\n" + // 4
		"2024-09-01,2024-10-01,2024-13-02 00:00:00,2024-09-03 00:00:00,1,a,bad time,\n" + // 5
		"2024-09-01,2024-10-01,NULL,2024-09-03 00:00:00,1,a,no charge period,\n" + // 6
		"2024-09-01,2024-10-01,2024-09-02 00:00:00,2024-09-03 00:00:00,,a,no cost,\n" + // 7
		"2024-09-01,2024-10-01,2024-09-02 00:00:00,2024-09-03 00:00:00,1,a,bad tags,\"{\"\"a\"\":}\"\n" + // 8
		"2024-09-01,2024-10-01,2024-09-02 00:00:00,2024-09-03 00:00:00,1,a,\"multi\nline\",\n" + // 9-10
		"2024-09-01,2024-10-01,2024-09-02 00:00:00,2024-09-03 00:00:00,NaN,a,not finite,\n" + // 11
		"2024-09-01,2024-10-01,2024-09-02 00:00:00,2024-09-03 00:00:00,1,a,bare \"quote,\n" + // 12
		"1969-12-31,2024-10-01,2024-09-02 00:00:00,2024-09-03 00:00:00,1,a,before 1970,\n" + // 13
		"2024-09-01,2024-10-01,2024-09-02 00:00:00,2024-09-03 00:00:00,-2.5e-3,a,good two,{}\n" // 14
	_, rows, bad := readAll(t, strings.NewReader(in))
	require.Len(t, rows, 3)
	assert.Equal(t, []uint64{2, 9, 14}, []uint64{rows[0].LineNumber, rows[1].LineNumber, rows[2].LineNumber})
	assert.Equal(t, "multi\nline", rows[1].ServiceName)
	assert.Equal(t, -0.0025, rows[2].BilledCost)
	var got []string
	for _, e := range bad {
		got = append(got, e.Error())
	}
	assert.Equal(t, []string{
		"line 3: has 7 columns, the header has 8",
		`line 4: BilledCost "abc" is not a number`,
		`line 5: ChargePeriodStart "2024-13-02 00:00:00" is not a date-time between 1970 and 2105`,
		"line 6: ChargePeriodStart is empty",
		"line 7: BilledCost is empty",
		`line 8: Tags "{\"a\":}" is not a JSON object: want a value`,
		`line 11: BilledCost "NaN" is not a number`,
		`line 12: malformed CSV: bare " in non-quoted-field`,
		`line 13: BillingPeriodStart "1969-12-31" is not a date-time between 1970 and 2105`,
	}, got)
}

func TestNewReader_NotFOCUS(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"empty":           "",
		"other CSV":       "a,b,c\n1,2,3\n",
		"missing columns": "BilledCost,ChargePeriodStart\n1,2024-01-01\n",
	} {
		_, err := NewReader(strings.NewReader(in))
		assert.ErrorIs(t, err, ErrNotFOCUS, name)
	}
	_, err := NewReader(strings.NewReader("BilledCost,ChargePeriodStart\n"))
	assert.ErrorContains(t, err, "the header lacks BillingPeriodStart, BillingPeriodEnd, ChargePeriodEnd, BillingAccountId")

	// A broken gzip stream is an error of the input, not a bad row.
	_, err = NewReader(bytes.NewReader([]byte{0x1f, 0x8b, 0, 1, 2}))
	assert.ErrorContains(t, err, "gzip")
}

func TestReader_TruncatedGzipFails(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(fixture)
	require.NoError(t, err)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(data)
	require.NoError(t, zw.Close())
	rd, err := NewReader(bytes.NewReader(gz.Bytes()[:gz.Len()/2]))
	require.NoError(t, err)
	var n int
	for {
		_, err = rd.Read()
		if err != nil {
			var re *RowError
			if errors.As(err, &re) {
				continue
			}
			break
		}
		n++
	}
	assert.Less(t, n, 1000)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the input ends early: fatal, not io.EOF")
}

// A gzip bomb inflating to one endless record ends the input with ErrRecordTooLong once the
// record passes 16 MiB, instead of taking as much memory as it inflates to; records below
// the bound, quoted line breaks and all, read as before.
func TestReader_RecordTooLong(t *testing.T) {
	t.Parallel()
	gz := func(parts ...string) []byte {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		require.NoError(t, err)
		for _, p := range parts {
			_, err = zw.Write([]byte(p))
			require.NoError(t, err)
		}
		require.NoError(t, zw.Close())
		return buf.Bytes()
	}
	row := "1,2024-09-01,2024-10-01,2024-09-18,2024-09-19,acct,{},"
	long := strings.Repeat("a", maxRecordBytes+1)
	lines := strings.Repeat(strings.Repeat("a", 99)+"\n", maxRecordBytes/100+1)

	_, err := NewReader(bytes.NewReader(gz(long)))
	assert.ErrorIs(t, err, ErrRecordTooLong, "the header")
	// Short in bytes, endless in fields: encoding/csv's per-field bookkeeping would take
	// 1.3 GiB for 16 MiB of commas (found by FuzzReader).
	_, err = NewReader(bytes.NewReader(gz("BilledCost" + strings.Repeat(",", 4*maxRecordFields))))
	assert.ErrorIs(t, err, ErrRecordTooLong, "a header of commas")
	rd, err := NewReader(bytes.NewReader(gz(fuzzHeader, row+strings.Repeat(",", 4*maxRecordFields)+"\n")))
	require.NoError(t, err)
	_, err = rd.Read()
	assert.ErrorIs(t, err, ErrRecordTooLong, "a row of commas")
	require.NoError(t, rd.Close())

	for name, bomb := range map[string]string{"one line": long, "quoted line breaks": `"` + lines} {
		rd, err := NewReader(bytes.NewReader(gz(fuzzHeader, row+"ok\n", row+bomb)))
		require.NoError(t, err, name)
		r, err := rd.Read()
		require.NoError(t, err, name)
		assert.Equal(t, uint64(2), r.LineNumber, name)
		_, err = rd.Read()
		assert.ErrorIs(t, err, ErrRecordTooLong, name)
		require.NoError(t, rd.Close())
	}

	big := strings.Repeat("a", maxRecordBytes-8<<10)
	rd, err = NewReader(bytes.NewReader(gz(fuzzHeader, row+`"`+big[:len(big)/2]+"\n"+big[len(big)/2:]+"\"\n", row+"after\n")))
	require.NoError(t, err)
	r, err := rd.Read()
	require.NoError(t, err)
	assert.Len(t, r.ExtraValues[0], len(big)+1)
	r, err = rd.Read()
	require.NoError(t, err)
	assert.Equal(t, []string{"after"}, r.ExtraValues, "the bound is per record")
	_, err = rd.Read()
	assert.ErrorIs(t, err, io.EOF)
}

func TestParseTime(t *testing.T) {
	f := func(in string, want time.Time) {
		t.Helper()
		got, ok := parseTime(in)
		require.True(t, ok, in)
		assert.Equal(t, want, got, in)
		assert.Equal(t, time.UTC, got.Location(), in)
	}
	utc := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	f("2024-09-01 00:00:00", utc)
	f("2024-09-01T00:00:00", utc)
	f("2024-09-01T00:00:00Z", utc)
	f("2024-09-01T00:00:00.000Z", utc)
	f("2024-09-01T02:00:00+02:00", utc)
	f("2024-08-31 17:00:00-07:00", utc)
	f("2024-09-01T00:00:00+0000", utc)
	f("2024-09-01 00:00:00 UTC", utc)
	f("2024-09-01 00:00", utc)
	f("2024-09-01", utc)
	for _, bad := range []string{"", "yesterday", "2024-09-01X", "2024-02-30", "1969-12-31T23:59:59Z", "2106-03-01"} {
		_, ok := parseTime(bad)
		assert.False(t, ok, bad)
	}
}

func TestTagParser(t *testing.T) {
	var p tagParser
	f := func(in string, keys, vals []string) {
		t.Helper()
		k, v, err := p.parse(nil, nil, in)
		require.NoError(t, err, in)
		assert.Equal(t, keys, k, in)
		assert.Equal(t, vals, v, in)
	}
	f(`{}`, nil, nil)
	f(` { "a" : "b" } `, []string{"a"}, []string{"b"})
	f(`{"k\"q": "line\nbreak \u00e9", "x": -1.5e3}`, []string{`k"q`, "x"}, []string{"line\nbreak é", "-1.5e3"})
	f(`{"a": false, "b": null, "c": [ "x", {"y": "}"} ]}`, []string{"a", "b", "c"}, []string{"false", "", `["x",{"y":"}"}]`})
	for _, bad := range []string{``, `[]`, `{"a"}`, `{"a": }`, `{"a": "b"`, `{"a": "b"} x`, `{a: 1}`, `{"a": nope}`, `{"a": [1}`} {
		k, v, err := p.parse([]string{"keep"}, []string{"me"}, bad)
		assert.Error(t, err, bad)
		assert.Equal(t, []string{"keep"}, k, bad)
		assert.Equal(t, []string{"me"}, v, bad)
	}
}

func BenchmarkReader_Fixture(b *testing.B) {
	data, err := os.ReadFile(fixture)
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := rd.Read(); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				b.Fatal(err)
			}
		}
	}
}
