// Unicode facts the corrector needs, from a table generated out of Python's unicodedata
// (tools/gen_unicode.py), so that C++ and Python classify every code point the same way.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tc {

// A text that is not valid UTF-8 (the C API: TC_ERR_UTF8).
struct Utf8Error : std::runtime_error { using std::runtime_error::runtime_error; };

using Text = std::u32string;  // code points: Python's str indexes by code point, so do we

namespace uni {
bool is_letter(char32_t c);      // general category L*
bool is_number(char32_t c);      // general category N*
bool is_punct(char32_t c);       // general category P*
bool py_space(char32_t c);       // str.isspace (Python re's \s, str.split, str.strip)
bool white_space(char32_t c);    // White_Space (Oniguruma's \s in HF tokenizers)
bool py_alnum(char32_t c);       // str.isalnum
bool py_decimal(char32_t c);     // str.isdecimal (Python re's \d)
bool py_word(char32_t c);        // Python re's \w: isalnum or '_'
// str.lower(): full case mapping, with the final-sigma rule applied within `s`
Text lower(const Text& s);
Text py_strip(const Text& s);    // str.strip(): Python's whitespace off both ends
// first word of unicodedata.name(c, "?") for a letter; nullptr for a non-letter
const char* script(char32_t c);
const char* version();
}  // namespace uni

// UTF-8 <-> code points. Invalid UTF-8 is an error (the C API rejects it by code).
bool utf8_decode(std::string_view in, Text& out);
std::string utf8_encode(const Text& s);
void utf8_append(std::string& out, char32_t c);
// Rust's String::from_utf8_lossy (HF tokenizers' decoders): each maximal invalid subpart -> U+FFFD
std::string utf8_lossy(std::string_view bytes);

}  // namespace tc
