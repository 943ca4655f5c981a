// Package expo parses the Prometheus text exposition format 0.0.4 and the
// OpenMetrics 1.0 text format without allocating in steady state.
//
// A Parser is reused from scrape to scrape: Parse resets it, parses the whole
// body and keeps the samples in a slice it owns. Names, labels and help texts
// are sub-slices of the body, so the caller must leave the body unchanged while
// it uses them. Labels stay in their exposition form (escaped, in the order of
// the line); LabelValue, EachLabel and Unescape read them.
//
// # Compatibility with expfmt
//
// The parser returns, for every body that it and
// github.com/prometheus/common/expfmt both accept, the same samples as expfmt
// does once its metric families are flattened back to samples (FuzzAgainstExpfmt
// checks this). To keep that promise without expfmt's allocations it is stricter
// in places. In the text format it rejects:
//
//   - quoted UTF-8 metric and label names (`{"my.metric", a="b"}`,
//     `foo{"my.label"="x"}`) and any '"' inside a name;
//   - a metric name directly followed by something other than a blank or '{'
//     (expfmt reads `foo-1` as metric foo with value -1);
//   - a label name that appears twice in one label set, le and quantile included;
//   - in a summary, a sample named like the family without a quantile label, with
//     quantile="NaN", or a _sum/_count sample with a quantile label; in a
//     histogram, a sample named like the family, a _bucket without le or with
//     le="NaN", or a _sum/_count with an le label (expfmt drops or rewrites those);
//   - a summary _count that is not a whole number in [0, 2^64) (expfmt converts
//     it to an integer);
//   - two _sum or two _count samples with the same labels in one summary or
//     histogram (expfmt keeps only the last one);
//   - a histogram bucket with a fractional count (or NaN, Inf) in a series
//     without a _count sample (expfmt makes up a _count of 0);
//   - samples of one summary or histogram family with different timestamps, or
//     with and without one (expfmt gives a whole series the last timestamp seen);
//   - TYPE values that only match after Unicode case folding ("ſummary").
//
// It accepts what expfmt rejects in three places: a last line without a
// newline, blanks after the value or timestamp (the Prometheus server accepts
// both) and blanks after the type in a TYPE line.
//
// CR characters are not line ends: a body with CRLF line endings fails with an
// error saying so, as it does in expfmt.
//
// # OpenMetrics
//
// With openMetrics set, Parse follows the OpenMetrics 1.0 ABNF as expfmt does
// (single spaces, no blank lines or free comments, # EOF required at the end
// and nothing after it, no trailing comma in label sets) and its rules: TYPE,
// HELP and UNIT before a family's samples, no interleaved families, counters
// exposed as _total (and _created), exemplars only on counter _total and
// histogram _bucket samples (validated, then ignored), float-second timestamps
// converted to milliseconds. _created samples are returned as ordinary samples
// whose value is the creation time in seconds. Info and stateset families, which
// expfmt rejects, are accepted (info samples are name_info with value 1,
// stateset samples have a label named like the family and value 0 or 1). The
// stricter rules of the text format apply too, except that le and quantile are
// ordinary labels on samples that are not buckets or quantiles, as in expfmt.
// Besides, a counter _created sample needs a _total sample with the same labels
// in its family and may appear once per label set, a _created value must be
// below 9e18 seconds and sample and exemplar timestamps must fit int64
// milliseconds (expfmt converts them without a range check).
//
// Like expfmt, Parse rejects the OpenMetrics output of client_golang's Go
// collector, which announces go_memstats_alloc_bytes twice (a gauge, then the
// counter go_memstats_alloc_bytes_total); agents serve the text format, which
// corral asks for first.
package expo
