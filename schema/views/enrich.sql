-- What the sink's insert does to the text of a spool record (collector/sink/records.py):
-- each function gives, byte for byte, what the collector's Python rules gave before the
-- engine built the rows (collector/rows/enrich.py), and tests/sink/test_records.py
-- holds each to its Python counterpart.

-- The snippet's rule for URLs (sdk_js/src/lib/url.ts), applied again to what arrives: after
-- the origin, a part holding an email, or one of 16 or more characters with a letter from
-- g to z beside a digit or a run of 8 hex digits, is replaced.
-- The origin ends at the first slash after its ://; found by position, because extract()
-- compiles its pattern on every query, and Unicode classes take milliseconds to compile.
CREATE OR REPLACE FUNCTION microx_origin_end AS (url, slash) -> if(slash = 0, length(url), slash - 1);

CREATE OR REPLACE FUNCTION microx_url_origin AS (url) -> if(
    match(url, '^[\\pL\\pN_]+://'),
    substring(url, 1, microx_origin_end(url, position(url, '/', position(url, '://') + 3))),
    '');

CREATE OR REPLACE FUNCTION microx_scrub_part AS (part) -> multiIf(
    match(part, '^[/?#&=]'), part,
    match(part, '@|%40'), '[email]',
    lengthUTF8(part) >= 16
        AND match(part, '(?i)[g-z]\\p{Nd}|\\p{Nd}[g-z]|[\\p{Nd}a-f]{8}'), '[token]',
    part);

-- A function's parameter is its argument's whole expression again at each use, analysed
-- again by every query; a lambda's is one column. A value read more than once is passed
-- through arrayMap over a one-element array to be named once.
CREATE OR REPLACE FUNCTION microx_scrub_parts AS (url) -> arrayMap(
    origin -> concat(origin, arrayStringConcat(arrayMap(
        part -> microx_scrub_part(part),
        extractAll(substring(url, length(origin) + 1), '[^/?#&=]+|[/?#&=]+')))),
    [microx_url_origin(url)])[1];

-- Most URLs have no part the rule could replace: no @, and none as long as 16 characters.
CREATE OR REPLACE FUNCTION microx_scrub_url AS (url) -> if(
    match(url, '@|%40|[^/?#&=]{16}'), microx_scrub_parts(url), url);

-- Python's urlsplit(url).path or "/", and "" where urlsplit refuses the URL: a netloc with
-- one bracket, a bracketed host that is no IPv6 address, or characters that NFKC turns
-- into a delimiter.
CREATE OR REPLACE FUNCTION microx_url_cleaned AS (url) -> replaceRegexpAll(
    replaceRegexpOne(url, '^[\\x00-\\x20]+', ''), '[\\t\\r\\n]', '');

CREATE OR REPLACE FUNCTION microx_url_unschemed AS (url) -> replaceRegexpOne(
    url, '^[A-Za-z][A-Za-z0-9+.\\-]*:', '');

CREATE OR REPLACE FUNCTION microx_bracketed_host_ok AS (host) -> if(
    startsWith(host, 'v'),
    match(host, '^v[a-fA-F0-9]+\\..+$'),
    isIPv6String(splitByChar('%', host)[1])
        AND (position(host, '%') = 0 OR match(host, '^[^%]*%[^%]+$'))
        AND NOT isIPv4String(host));

CREATE OR REPLACE FUNCTION microx_netloc_ok AS (netloc) -> (position(netloc, '[') > 0) = (position(netloc, ']') > 0)
    AND (position(netloc, '[') = 0
        OR microx_bracketed_host_ok(extract(netloc, '^[^\\[]*\\[([^\\]]*)')))
    AND (match(netloc, '^[\\x00-\\x7f]*$')
        OR arrayMap(
            bare -> normalizeUTF8NFKC(bare) = bare
                OR NOT match(normalizeUTF8NFKC(bare), '[/?#@:]'),
            [replaceRegexpAll(netloc, '[@:#?]', '')])[1]);

CREATE OR REPLACE FUNCTION microx_split_path AS (rest) -> if(
    startsWith(rest, '//'),
    (extract(rest, '^//([^/?#]*)'), extract(rest, '^//[^/?#]*([^?#]*)')),
    ('', extract(rest, '^[^?#]*')));

CREATE OR REPLACE FUNCTION microx_path_of AS (split) -> if(
    microx_netloc_ok(split.1), if(split.2 = '', '/', split.2), '');

-- The split is read ten times by microx_path_of, its input four times by microx_split_path.
CREATE OR REPLACE FUNCTION microx_url_path_any AS (url) -> arrayMap(
    split -> microx_path_of(split),
    arrayMap(rest -> microx_split_path(rest), [microx_url_unschemed(microx_url_cleaned(url))]))[1];

-- Printable ASCII without brackets, the common case, needs neither cleaning nor checks.
CREATE OR REPLACE FUNCTION microx_url_path AS (url) -> if(
    match(url, '^[\\x21-\\x5a\\x5c\\x5e-\\x7e]*$'),
    replaceRegexpOne(
        extract(url, '^(?:[A-Za-z][A-Za-z0-9+.\\-]*:)?(?://[^/?#]*)?([^?#]*)'), '^$', '/'),
    microx_url_path_any(url));

CREATE OR REPLACE FUNCTION microx_language_named AS (first) -> if(first = '*', '', first);

-- The first language of an Accept-Language header, trimmed as Python's str.strip() does;
-- "*" names none.
CREATE OR REPLACE FUNCTION microx_first_language AS (header) -> microx_language_named(substringUTF8(
    replaceRegexpAll(
        splitByChar(';', splitByChar(',', header)[1])[1],
        '^[\\x09-\\x0d\\x1c-\\x20\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]+|[\\x09-\\x0d\\x1c-\\x20\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]+$',
        ''),
    1, 35));
