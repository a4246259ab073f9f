"""Short everyday sentences (messages, plans, small talk) composed from templates, so
the offline default data looks like what people type on a phone and not only like
Python documentation. Deterministic: the same order on every machine."""
from __future__ import annotations

import itertools
import random
from typing import Iterator

_PEOPLE = ["my sister", "my brother", "my mum", "my dad", "our neighbour", "the teacher", "my friend",
           "your cousin", "the manager", "my boss", "the kids", "our team", "my grandmother", "Anna", "Tom",
           "Sarah", "David", "the doctor", "my roommate", "their daughter"]
_PLACES = ["the station", "the office", "the supermarket", "the park", "the library", "school", "the gym",
           "the airport", "the beach", "the hospital", "the cinema", "the restaurant", "home", "work",
           "the bakery", "the post office", "the museum", "the hotel", "the bus stop", "the pharmacy"]
_TIMES = ["tomorrow", "tonight", "this afternoon", "next week", "on Monday", "on Friday", "this weekend",
          "at 7:30", "at 10:15", "at 6pm", "after lunch", "before dinner", "in the morning", "later today",
          "on Saturday morning", "at 9:00", "in 20 minutes", "next month", "on Sunday", "after work"]
_THINGS = ["some milk", "the tickets", "my keys", "a birthday cake", "the report", "the charger",
           "some bread", "the umbrella", "a new phone", "the documents", "two coffees", "the laptop",
           "a present", "the book", "fresh vegetables", "the car", "my glasses", "the photos", "a pizza",
           "the invitation"]
_ADJ = ["really good", "a bit late", "very tired", "so happy", "quite busy", "not sure", "really excited",
        "a little worried", "almost ready", "definitely interested", "pretty hungry", "still at work"]
_FEEL = ["great", "beautiful", "interesting", "difficult", "necessary", "different", "wonderful", "strange",
         "terrible", "amazing", "surprising", "expensive"]
_TEMPLATES = [
    "Can you pick up {thing} on the way to {place}?",
    "I'll meet {person} at {place} {time}.",
    "Don't forget to bring {thing} {time}.",
    "I'm {adj}, so I'll call you {time}.",
    "Are you going to {place} {time}?",
    "We should go to {place} {time}, if you're free.",
    "I think {person} left {thing} at {place}.",
    "Could you send me {thing} before {time2}?",
    "Thank you so much for {thing}, it was {feel}.",
    "I can't find {thing}, have you seen it?",
    "Let me know when you get to {place}.",
    "Sorry, I'm running late because the traffic near {place} is {feel}.",
    "Hello, how are you? I am {adj} today.",
    "Their new flat near {place} is {feel}.",
    "There is a problem with {thing}, can we talk {time}?",
    "I'd love to come, but I have to take {person} to {place} {time}.",
    "It's {feel} that {person} already knew about {thing}.",
    "Your order will arrive {time}, and it includes {thing}.",
    "Do you know whether {person} is coming {time}?",
    "I haven't seen {person} since we went to {place}.",
    "Please tell {person} that I'm {adj}.",
    "The meeting is {time}, so I'll bring {thing}.",
    "We're having dinner at {place} {time}, do you want to join?",
    "I was {adj} when {person} called me {time}.",
    "Remember to buy {thing} when you pass {place}.",
    "My phone is almost dead, I'll text you from {place}.",
    "Did {person} tell you about {thing}?",
    "I'm not sure if {person} received my message about {thing}.",
    "Which bus goes to {place}, do you know?",
    "Who's going to pick up {person} from {place} {time}?",
]
_TIMES2 = ["Friday", "noon", "5pm", "the weekend", "tomorrow morning", "the end of the day", "Tuesday"]


def fill_templates(templates: list[str], slots: dict[str, list[str]], seed: int) -> Iterator[str]:
    """Every template filled with a shuffled walk over its slot values (no repeats), the
    templates taken round-robin so any prefix of the stream is varied."""
    rng = random.Random(seed)
    streams = []
    for template in templates:
        names = [n for n in slots if "{" + n + "}" in template]
        combos = list(itertools.product(*(slots[n] for n in names)))
        rng.shuffle(combos)
        streams.append((template, names, combos))
    for i in itertools.count():
        alive = False
        for template, names, combos in streams:
            if i < len(combos):
                alive = True
                yield template.format(**dict(zip(names, combos[i])))
        if not alive:
            return


def everyday_sentences(seed: int = 1234) -> Iterator[str]:
    slots = {"person": _PEOPLE, "place": _PLACES, "time": _TIMES, "thing": _THINGS, "adj": _ADJ,
             "feel": _FEEL, "time2": _TIMES2}
    for text in fill_templates(_TEMPLATES, slots, seed):
        yield text[0].upper() + text[1:]
