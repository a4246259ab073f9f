"""Clean conversational text for the messages profile: dialogue lines from the registry's
`chatterbot-corpus` (BSD-3-Clause; its English YAML files) interleaved with chat-message
templates, so the model sees short cased and punctuated messages as references, the way
people type into a phone when they are careful. Deterministic: the same order everywhere.

Also the reference shapes a source may ask for (`form:` in a source's config):
- "sentence": keep only references that start with a capital (or a digit or a quote) and
  end with . ! ? (prose fragments that start in lower case would teach the model to
  leave a lower-case start alone);
- "fix": make them so (capital first letter, a full stop when the end has none), for
  lists of lower-case examples such as WordNet's."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterator

_OPENERS = ["Hi", "Hey", "Hello", "Morning", "Thanks", "Okay", "Sorry", "Yes", "No", "Oh"]
_NAMES = ["Anna", "Tom", "Sarah", "David", "Mum", "Dad", "Jess", "Mike", "Priya", "Carlos", "Emma", "Sam"]
_ACTIVITIES = ["the meeting", "dinner", "the party", "practice", "the appointment", "the movie", "lunch",
               "the game", "class", "the interview", "the concert", "the trip", "band rehearsal", "yoga"]
_ITEMS = ["my charger", "the keys", "your jacket", "the tickets", "some snacks", "the presentation",
          "the receipt", "my headphones", "the address", "the password", "the notes", "a spare key",
          "the recipe", "your book", "the dog food", "the forms"]
_WHEN = ["tomorrow", "tonight", "later", "this weekend", "next week", "in the morning", "after work",
         "on Friday", "on Tuesday", "before lunch", "at the weekend", "this evening", "soon", "right now"]
_STATES = ["really tired", "so excited", "a bit sick", "running late", "stuck in traffic", "almost home",
           "still at work", "on my way", "at the shop", "not feeling great", "really busy today",
           "free this afternoon", "back home", "so sorry about that"]
_TEMPLATES = [
    "{opener}, are you coming to {activity} {when}?",
    "I'm {state}, can we talk {when}?",
    "Did you remember to bring {item}?",
    "{opener} {name}, I think I left {item} at your place.",
    "Can you send me {item} {when}?",
    "I can't make it to {activity}, I'm {state}.",
    "Thanks for {activity}, it was really fun!",
    "What time does {activity} start {when}?",
    "Do you want to grab coffee {when}?",
    "I'll be there in ten minutes, I'm {state}.",
    "{name} said {activity} is cancelled, is that true?",
    "Have you seen {item} anywhere? I can't find it.",
    "Don't forget {activity} {when}!",
    "I don't know if I can come {when}, I'm {state}.",
    "Let me know if you need {item} {when}.",
    "{opener}, just checking you got my message about {activity}.",
    "We're going to {activity} {when}, do you want to come?",
    "Sorry I missed your call, I was at {activity}.",
    "It's fine, I'll get {item} {when}.",
    "Could you ask {name} about {activity}?",
    "I think {activity} was moved to {when}.",
    "Happy birthday {name}! Hope you have a great day.",
    "Are we still on for {activity} {when}?",
    "Please tell {name} I'll be late for {activity}.",
    "I'm {state}, I'll text you when I'm done.",
    "Where did you put {item}? I need it {when}.",
    "You're the best, thanks for {item}!",
    "Can't wait for {activity} {when}!",
    "I didn't get {item}, could you send it again?",
    "{opener}, how was {activity}?",
    "Would you like to come over {when}?",
    "Your package arrived, I left it by the door.",
    "I'm not sure what time I'll finish {when}.",
    "Good luck with {activity} {when}!",
    "Did {name} ever reply about {activity}?",
    "Remind me to buy {item} {when}.",
    "I'll call you back {when}, I'm {state}.",
    "Is it okay if I bring {name} to {activity}?",
    "We should probably leave by six, {activity} starts early.",
    "What do you think about {activity} {when}?",
]


def chat_lines(folder: Path | None = None) -> Iterator[str]:
    """Every English dialogue line of chatterbot-corpus, in file order, once each."""
    import yaml

    if folder is None:
        try:
            import chatterbot_corpus
        except ImportError:
            from datagen.sources import DataError

            raise DataError("the messages source needs the chatterbot-corpus package "
                            "(pip install chatterbot-corpus==1.3.3; it is in requirements.txt)") from None
        folder = Path(chatterbot_corpus.__file__).parent / "data" / "english"
    seen: set[str] = set()
    for f in sorted(folder.glob("*.yml")):
        doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        for convo in doc.get("conversations") or []:
            for line in convo if isinstance(convo, list) else []:
                if isinstance(line, str) and line.strip() and line not in seen:
                    seen.add(line)
                    yield " ".join(line.split())


def template_messages(seed: int = 4321) -> Iterator[str]:
    """Every message template filled from a shuffled walk over its slots, round-robin."""
    from datagen.everyday import fill_templates

    slots = {"opener": _OPENERS, "name": _NAMES, "activity": _ACTIVITIES, "item": _ITEMS, "when": _WHEN,
             "state": _STATES}
    yield from fill_templates(_TEMPLATES, slots, seed)


def joined_templates(every: int = 3) -> Iterator[str]:
    """Template messages, every `every`-th one followed by the next in the same message:
    people send two sentences at once ("Running late. Save me a seat!")."""
    it = template_messages()
    for i, s in enumerate(it):
        nxt = next(it, None) if i % every == every - 1 else None
        yield s if nxt is None else f"{s} {nxt}"


def message_sentences(folder: Path | None = None) -> Iterator[str]:
    """Dialogue lines and template messages interleaved one for one (templates after the
    corpus runs out), so any prefix of the stream mixes both."""
    a, b = chat_lines(folder), joined_templates()
    for x, y in itertools.zip_longest(a, b):
        if x is not None:
            yield x
        if y is not None:
            yield y


_OPENING = "\"'(`"
_CLOSING = ".!?"


def is_sentence(s: str) -> bool:
    """Starts with a capital, digit or opening quote and ends with . ! ? (maybe quoted)."""
    head = s.lstrip(_OPENING)[:1]
    tail = s.rstrip("\"')")[-1:]
    return bool(head) and (head.isupper() or head.isdigit()) and tail in _CLOSING


def fix_sentence(s: str) -> str:
    """A capital first letter and a final full stop where the text has none."""
    if not s:
        return s
    i = len(s) - len(s.lstrip(_OPENING))
    if i < len(s) and s[i].islower():
        s = s[:i] + s[i].upper() + s[i + 1:]
    if s.rstrip("\"')")[-1:] not in _CLOSING:
        s += "."
    return s
