"""The conversations the demo replays: scripted customer messages written for warmline.

Each script is one customer's side of a chat with an online retailer's support line, grouped by the
kind of emotional need it carries. The texts are fiction, written to read like real support chats.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """The emotional shape of a scripted conversation."""

    ROUTINE = "routine"
    FRUSTRATED = "frustrated"
    SARCASTIC = "sarcastic"
    GRIEVING = "grieving"
    PANICKING = "panicking"
    CRISIS = "crisis"


@dataclass(frozen=True)
class Script:
    """One customer's messages, in order, and where they write from."""

    name: str
    kind: Kind
    messages: tuple[str, ...]
    country: str = "GB"


SCRIPTS: tuple[Script, ...] = (
    # --- routine: the AI handles these on its own --------------------------------------------
    Script(
        "where-is-my-parcel",
        Kind.ROUTINE,
        (
            "Hi, could you tell me where my order is? It's number 48213.",
            "Great, thanks. Will it need a signature?",
        ),
    ),
    Script(
        "change-address",
        Kind.ROUTINE,
        (
            "Hello, I'd like to change the delivery address on my order please.",
            "It should go to my work address instead, 14 Mill Lane.",
            "Perfect, thank you so much for sorting that.",
        ),
    ),
    Script(
        "size-exchange",
        Kind.ROUTINE,
        (
            "Can I swap the jumper I bought for a medium?",
            "Do I need to print a label or is it in the box?",
        ),
    ),
    Script(
        "gift-wrap",
        Kind.ROUTINE,
        (
            "Do you offer gift wrapping on orders?",
            "Lovely, I'll add it at checkout. Thanks!",
        ),
        country="US",
    ),
    Script(
        "invoice-copy",
        Kind.ROUTINE,
        (
            "Could you send me a copy of the invoice for my last order?",
            "The email on my account is the right one, yes.",
            "Got it, cheers.",
        ),
    ),
    Script(
        "opening-hours",
        Kind.ROUTINE,
        ("What time does the click and collect desk open on Saturdays?",),
    ),
    Script(
        "discount-code",
        Kind.ROUTINE,
        (
            "My discount code from the newsletter isn't applying at checkout.",
            "Ah, I see, it's for orders over 30 pounds. Makes sense, thank you.",
        ),
    ),
    # --- frustrated: patience running out --------------------------------------------------
    Script(
        "third-time-asking",
        Kind.FRUSTRATED,
        (
            "This is the third time I'm asking about my refund.",
            "I am really annoyed. You keep telling me five working days and nothing happens.",
            "This is ridiculous. I want to speak to a person now, I'm furious.",
            "Honestly I am so angry and fed up with being ignored.",
        ),
    ),
    Script(
        "broken-on-arrival",
        Kind.FRUSTRATED,
        (
            "The table arrived with a cracked leg. Again.",
            "I'm so frustrated, I took a day off work for this delivery.",
            "Stop sending me links to the FAQ, it's useless and I'm angry.",
        ),
    ),
    Script(
        "charged-twice",
        Kind.FRUSTRATED,
        (
            "You've charged my card twice for the same order.",
            "I'm really upset, that money was for my rent this month.",
            "Nobody is helping me and I'm getting really angry about this.",
        ),
    ),
    Script(
        "missed-delivery-slot",
        Kind.FRUSTRATED,
        (
            "The courier didn't turn up in the slot I booked, and didn't leave a card.",
            "I'm annoyed, I waited in all day.",
        ),
    ),
    Script(
        "account-locked",
        Kind.FRUSTRATED,
        (
            "My account is locked and the reset email never arrives.",
            "I've tried five times, this is infuriating.",
            "I'm so fed up and angry, I just want my order history.",
        ),
        country="US",
    ),
    # --- sarcastic: the words say one thing --------------------------------------------------
    Script(
        "wonderful-service",
        Kind.SARCASTIC,
        (
            "Oh wonderful, my order is 'on its way' for the eleventh day running. Brilliant.",
            "Love how your tracking page just says 'soon'. Very helpful, thanks so much.",
            "Great, another automated answer. I'm thrilled. Truly.",
        ),
    ),
    Script(
        "genius-packaging",
        Kind.SARCASTIC,
        (
            "Whoever packed one phone case in a box the size of a fridge is a genius.",
            "Really loving the planet-friendly packaging, amazing work.",
        ),
    ),
    Script(
        "best-refund-ever",
        Kind.SARCASTIC,
        (
            "Fantastic, a refund of 3p for a 40 pound coat. So generous.",
            "Sure, I'll just wait another month, that sounds great. Wow.",
            "Honestly this is a joke and I'm angry at how I've been treated.",
        ),
    ),
    Script(
        "five-stars",
        Kind.SARCASTIC,
        (
            "Five stars for the courier who threw my parcel over the fence into the pond.",
            "Lovely swim it had. The book inside is ruined, obviously.",
        ),
    ),
    Script(
        "thanks-for-nothing",
        Kind.SARCASTIC,
        (
            "Thanks for nothing. Really, thanks a lot.",
            "I'm so grateful to have spent an hour on hold. What a treat.",
            "I'm disgusted and furious, honestly.",
        ),
        country="US",
    ),
    # --- grieving: loss behind a practical question ------------------------------------------
    Script(
        "mums-account",
        Kind.GRIEVING,
        (
            "Hello. My mum passed away last month and I need to close her account.",
            "Sorry, this is hard. She ordered from you every Christmas, I keep getting the emails.",
            "I miss her so much. I just want the emails to stop.",
        ),
    ),
    Script(
        "gift-for-dad",
        Kind.GRIEVING,
        (
            "I ordered a birthday present for my dad but he died on Sunday.",
            "I don't know how to cancel it, I can't think straight. I'm heartbroken.",
        ),
    ),
    Script(
        "wedding-cancelled",
        Kind.GRIEVING,
        (
            "I need to return the wedding decorations. My fiance passed away in an accident.",
            "I'm sorry, I'm crying writing this. The grief is just so much.",
            "Thank you for being patient with me.",
        ),
    ),
    Script(
        "pet-food-subscription",
        Kind.GRIEVING,
        (
            "Please cancel the dog food subscription. We lost our dog Bramble yesterday.",
            "Fourteen years. I'm so sad, the house is so quiet.",
        ),
        country="US",
    ),
    Script(
        "late-husband-order",
        Kind.GRIEVING,
        (
            "My husband died last week and there's an order in his name I didn't know about.",
            "It's a watch. I think it was for our anniversary. I'm devastated.",
            "Can it still come to me? I'd like to keep it.",
        ),
    ),
    # --- panicking: fear and urgency ----------------------------------------------------------
    Script(
        "medication-delivery",
        Kind.PANICKING,
        (
            "My pharmacy order hasn't arrived and I'm out of my heart medication.",
            "I'm really scared, I'm panicking, what do I do?",
            "Please help me, I'm terrified and my hands are shaking.",
        ),
    ),
    Script(
        "card-stolen",
        Kind.PANICKING,
        (
            "Someone has used my card on your site! There are orders I didn't make!",
            "I'm so scared and panicking, they've taken all my savings.",
            "I'm afraid they'll take more, please help, I'm frightened.",
        ),
    ),
    Script(
        "stranded-abroad",
        Kind.PANICKING,
        (
            "My travel adaptor order never came and I fly tonight, I'm panicking.",
            "I'm scared I'll be stranded with no way to charge my insulin pump. I'm terrified.",
        ),
        country="US",
    ),
    Script(
        "child-allergy",
        Kind.PANICKING,
        (
            "The snack box had peanuts in it even though I ticked the allergy box.",
            "My son ate one and I'm terrified, I'm so scared and panicking.",
            "We're waiting for the doctor, I'm frightened, why would you do this?",
        ),
    ),
    Script(
        "eviction-deadline",
        Kind.PANICKING,
        (
            "I need a refund today or I can't pay rent and we'll be evicted.",
            "I'm panicking, I'm so scared, I have two kids.",
        ),
    ),
    # --- crisis: risk to life; the crisis screen takes over -------------------------------------
    Script(
        "nobody-would-miss-me",
        Kind.CRISIS,
        (
            "I don't even care about the refund anymore.",
            "I want to end it all, nobody would miss me.",
            "I've been thinking about it for weeks.",
        ),
    ),
    Script(
        "cant-go-on",
        Kind.CRISIS,
        (
            "Everything's gone wrong this year, and now this order too.",
            "I can't go on like this. I want to kill myself.",
        ),
        country="US",
    ),
    Script(
        "pills",
        Kind.CRISIS,
        (
            "Sorry, I'm not really writing about the order.",
            "I've been stockpiling pills and I'm going to take them tonight.",
        ),
    ),
    Script(
        "hurting-myself",
        Kind.CRISIS,
        (
            "Can you just cancel everything on my account.",
            "I keep hurting myself and I don't see the point in anything.",
            "I don't want to be here anymore.",
        ),
    ),
    Script(
        "unsafe-at-home",
        Kind.CRISIS,
        (
            "I need the parcel sent somewhere else, he reads my post.",
            "My partner hits me and I'm scared he'll kill me if he finds out I ordered this.",
        ),
    ),
)
