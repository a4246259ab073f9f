"""Hand-written tables the noise model draws from: the phone/keyboard layout, common
misspelling patterns (phonetic spellings, ie/ei, double consonants), whole-word
misspellings people really make, and real-word confusions (their/there)."""
from __future__ import annotations

from core.keyboard import NEIGHBOURS  # noqa: F401 (re-exported: datagen.tables.NEIGHBOURS)

# The QWERTY neighbours live in core so the dictionary pass (evaluation) prices slips the same way.

# Sub-word patterns (pattern, replacement). Applied once, at one matching place.
# Why these: they are the spellings people produce when they write by ear
# (phonetic), the ie/ei confusion, and doubling/undoubling consonants in suffixes.
PHONETIC = [
    ("ph", "f"), ("ight", "ite"), ("ough", "uf"), ("ck", "k"), ("wh", "w"), ("kn", "n"),
    ("wr", "r"), ("mb", "m"), ("sc", "s"), ("ce", "se"), ("ci", "si"), ("se", "ce"),
    ("tion", "sion"), ("sion", "tion"), ("ous", "us"), ("ious", "ous"), ("ful", "full"),
    ("ence", "ance"), ("ance", "ence"), ("ent", "ant"), ("ant", "ent"), ("ible", "able"),
    ("able", "ible"), ("ise", "ize"), ("ize", "ise"), ("our", "or"), ("ea", "ee"),
    ("ee", "ea"), ("ai", "ay"), ("ay", "ai"), ("er", "ar"), ("ar", "er"), ("or", "er"),
    ("al", "el"), ("le", "el"), ("y", "ie"), ("ey", "y"), ("oo", "u"), ("ew", "ue"),
    ("au", "aw"), ("qu", "kw"), ("x", "ks"), ("dge", "ge"), ("tch", "ch"), ("gh", ""),
    ("ate", "ait"), ("ite", "ight"), ("ere", "ear"), ("e", "a"), ("a", "e"), ("i", "e"),
    ("e", "i"), ("o", "u"), ("u", "o"),
]
IE_EI = [("ie", "ei"), ("ei", "ie")]
DOUBLE_CONSONANTS = [
    ("ss", "s"), ("ll", "l"), ("mm", "m"), ("nn", "n"), ("pp", "p"), ("rr", "r"), ("tt", "t"),
    ("cc", "c"), ("ff", "f"), ("dd", "d"), ("gg", "g"), ("ccom", "com"), ("l", "ll"),
    ("s", "ss"), ("m", "mm"), ("n", "nn"), ("p", "pp"), ("r", "rr"), ("t", "tt"), ("c", "cc"),
]
PATTERNS: list[tuple[str, str]] = PHONETIC + IE_EI + DOUBLE_CONSONANTS

# Whole words people misspell often (correct -> typical misspellings).
COMMON_MISSPELLINGS: dict[str, tuple[str, ...]] = {
    "definitely": ("definately", "definitly", "defiantly"), "separate": ("seperate",),
    "receive": ("recieve",), "believe": ("beleive", "belive"), "because": ("becuase", "becasue", "cause"),
    "tomorrow": ("tommorow", "tomorow", "tommorrow"), "really": ("realy", "relly"),
    "which": ("wich", "whitch"), "beautiful": ("beatiful", "beutiful"),
    "necessary": ("neccessary", "necesary"), "friend": ("freind", "frend"), "friends": ("freinds", "frends"),
    "until": ("untill",), "address": ("adress",), "across": ("accross",), "again": ("agian", "agin"),
    "always": ("allways", "alway"), "embarrass": ("embarass",), "occurred": ("occured",), "weird": ("wierd",),
    "government": ("goverment",), "environment": ("enviroment",), "probably": ("probly", "probaly"),
    "interesting": ("intresting",), "different": ("diffrent", "differnt"),
    "restaurant": ("resturant", "restaraunt"), "especially": ("especialy", "expecially"),
    "surprise": ("suprise",), "experience": ("experiance",), "knowledge": ("knowlege",),
    "library": ("libary",), "February": ("Febuary",), "Wednesday": ("Wensday",),
    "business": ("buisness", "bussiness"), "calendar": ("calender",), "finally": ("finaly",),
    "foreign": ("foriegn",), "grammar": ("grammer",), "happened": ("happend",),
    "immediately": ("immediatly",), "judgment": ("judgement",), "license": ("licence",),
    "maintenance": ("maintainance",), "misspell": ("mispell",), "noticeable": ("noticable",),
    "occasion": ("ocassion", "occassion"), "piece": ("peice",), "possession": ("posession",),
    "publicly": ("publically",), "recommend": ("recomend", "reccomend"), "rhythm": ("rythm",),
    "schedule": ("schedual", "shedule"), "sincerely": ("sincerly",), "truly": ("truely",),
    "whether": ("wether",), "writing": ("writting",), "written": ("writen",), "thought": ("thougth", "thot"),
    "through": ("throught", "thru"), "though": ("tho", "thou"), "what": ("wat", "waht"),
    "with": ("wiht", "whith"), "where": ("were", "wher"), "people": ("poeple", "peopel"),
    "something": ("somthing",), "would": ("woud",), "could": ("coud",), "should": ("shoud",),
    "thanks": ("thx", "thanx"), "please": ("pls", "plese"), "sorry": ("sory",), "minutes": ("mins", "minuts"),
    "message": ("mesage", "massage"), "coming": ("comming",), "getting": ("geting",),
    "basically": ("basicly",), "actually": ("actualy",), "completely": ("completly",), "excited": ("exited",),
    "everything": ("everthing",), "everyone": ("everyon", "evryone"), "know": ("kno",),
    "about": ("abuot", "abut"), "their": ("thier",), "the": ("teh", "hte"), "and": ("adn", "nad"),
    "you": ("yuo", "u"), "are": ("r",), "going": ("goin", "giong"), "want": ("wnat",), "just": ("jsut",),
}

# Real-word confusions: swapping gives another valid word (their/there, to/too).
_CONFUSION_SETS = [
    ("their", "there", "they're"), ("to", "too"), ("your", "you're"), ("its", "it's"),
    ("then", "than"), ("were", "where", "we're"), ("affect", "effect"), ("lose", "loose"),
    ("accept", "except"), ("whose", "who's"), ("quite", "quiet"), ("know", "no"),
    ("here", "hear"), ("buy", "by"), ("weather", "whether"), ("passed", "past"),
    ("brake", "break"), ("peace", "piece"), ("write", "right"), ("knew", "new"),
    ("hole", "whole"), ("four", "for"), ("weak", "week"), ("meet", "meat"), ("wear", "where"),
    ("of", "off"), ("advice", "advise"), ("sun", "son"), ("sea", "see"), ("one", "won"),
]
REAL_WORD: dict[str, tuple[str, ...]] = {
    w: tuple(o for o in group if o != w) for group in _CONFUSION_SETS for w in group
}

# Chat abbreviations people type for a word or phrase, the reverse of the guard's table
# (evaluation.guard.ABBREVIATIONS; tests/test_data_messages.py checks every pair here is one
# the guard accepts): the reference keeps the word, the input gets the abbreviation. Those with
# a digit (b4, gr8) are left out: a token with a digit is a protected span the guard never changes.
CHAT_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "you": ("u", "u", "ya"), "your": ("ur",), "you're": ("ur",), "are": ("r",), "okay": ("k",),
    "please": ("pls", "plz"), "thanks": ("thx", "thnx"), "tomorrow": ("tmrw", "tmr"),
    "because": ("bc", "cuz", "coz"), "people": ("ppl",), "message": ("msg",),
    "about": ("abt",), "what": ("wat",), "birthday": ("bday",),
    "though": ("tho",), "through": ("thru",), "night": ("nite",),
    "thank you": ("ty",), "by the way": ("btw",), "right now": ("rn",), "i don't know": ("idk",),
}
