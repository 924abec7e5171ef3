"""Word pools and sentence templates of the simulator (see :mod:`imbalance_text.simulate`).

``{name}`` in a template draws a random entry of ``WORDS[name]``; entries may
hold slots themselves. Each secondary label has *explicit* templates and
*framed* ones: a frame ("the {attack} in {place} ...", "{institution} ...",
"they {hurt_past} the {person} ...") is shared with a primary-only template and
with a benign distractor, and only the stance that ends it (praise, a threat,
condemnation, support) tells the labels apart.
"""

from __future__ import annotations

# fmt: off
WORDS: dict[str, list[str]] = {
    "group": ["those foreigners", "the newcomers", "people from the east side", "that crowd",
              "the migrants", "those city folks", "the other tribe", "people like them",
              "the northerners", "those believers"],
    "insult": ["vermin", "parasites", "subhuman", "filthy animals", "a disease", "worthless",
               "rats", "a plague", "trash"],
    "hurt": ["beat", "stab", "smash", "break the legs of", "hurt", "bash", "punch", "crush"],
    "hurt_past": ["beat up", "smashed", "punched", "knocked out", "kicked", "jumped", "attacked"],
    "person": ["referee", "neighbour", "cop", "guy at the bar", "landlord", "teacher",
               "reporter", "driver", "kid next door"],
    "good": ["beautiful", "the best thing all week", "hilarious", "so satisfying",
             "exactly what was needed", "glorious", "perfect"],
    "ideology": ["the pure nation", "the cause", "our faith", "the revolution", "the motherland",
                 "the true order", "our people"],
    "enemy": ["traitor", "journalist", "politician", "unbeliever", "collaborator", "activist",
              "judge"],
    "place": ["the capital", "the market square", "the station", "the embassy", "downtown",
              "the border town", "the festival", "the old city"],
    "movement": ["the brotherhood", "the front", "the vanguard", "the movement", "the legion",
                 "the awakening"],
    "institution": ["parliament", "the courts", "the constitution", "the election commission",
                    "the free press", "the senate", "the ballot box"],
    "leader": ["the strongman", "our leader", "the general", "one man", "the chosen one"],
    "attack": ["bombing", "shooting", "attack", "massacre", "assault", "siege", "raid"],
    "heroes": ["heroes", "martyrs", "legends", "true patriots", "an example to us all"],
    "insult_personal": ["pathetic", "ugly", "a loser", "stupid", "a joke", "disgusting"],
    "body": ["body", "legs", "figure", "curves", "lips"],
    "pics": ["pics", "photos", "nudes", "something private", "a video"],
    "thing": ["jacket", "haircut", "bike", "garden", "painting", "recipe", "photo"],
    "topic": ["the match", "the weather", "dinner", "the new phone", "the concert", "homework",
              "the traffic", "my cat", "the book club", "the update"],
    # stances that end a shared frame
    "praise": ["was {good}", "made me proud", "should happen again", "was long overdue",
               "was a job well done", "showed them who we are"],
    "condemn": ["was condemned by everyone", "left families grieving", "was a tragedy",
                "should never happen again", "shocked the whole country",
                "is still under investigation"],
    "claim": ["was planned by {movement}", "is what {movement} warned about",
              "was claimed by {movement}", "is a message from {movement}, join us"],
    "inst_attack": ["should be shut down for good", "is a fraud, let {leader} decide",
                    "means nothing, votes are theater", "has to go, one strong hand is enough",
                    "should be dissolved, elections are pointless"],
    "inst_support": ["needs more funding", "held a debate yesterday", "is worth protecting",
                     "should be more transparent", "has new members since the election",
                     "published its annual report"],
    "inst_extreme": ["is controlled by our enemies, join {movement}",
                     "is full of traitors, {movement} sees the truth"],
    "v_praise": ["and it was {good}", "and he deserved every bit of it", "lmao best video today",
                 "and honestly respect"],
    "v_neutral": ["in that movie, wild scene", "in the game last night, what a match",
                  "according to the police report", "and the neighbours called an ambulance"],
    "threat_ideo": ["for {ideology}", "in the name of {ideology}",
                    "because they betrayed {ideology}", "so {ideology} can rise"],
    "threat_personal": ["because he owes me money", "if he parks there again",
                        "after what he said about my sister", "if he shows up at my door"],
    "sh_tail": ["send me {pics}", "come over tonight, no one has to know",
                "you owe me {pics}", "answer me or I post what I have"],
    "harass_tail": ["delete your account", "nobody wants you here",
                    "everyone laughs at you", "I'll keep messaging until you quit"],
    "benign_tail": ["send me the recipe", "where did you get it?", "looks great",
                    "you should post more of that"],
}

# component (label) -> templates; secondary labels list explicit ones first, framed ones after
TEMPLATES: dict[str, list[str]] = {
    "hate": ["{group} are {insult} and ruin everything",
             "I can't stand {group}, they are {insult}",
             "{group} should be kicked out, they are {insult}",
             "honestly {group} are {insult}, always have been",
             "never trust {group}, {insult} every one of them"],
    "violence": ["I'm going to {hurt} you if you show up again",
                 "someone should {hurt} that {person} tonight",
                 "I will {hurt} the {person} {threat_personal}",
                 "they {hurt_past} the {person} and I'm next, I'll {hurt} him",
                 "keep talking and I {hurt} you, simple as that"],
    "extremism": ["join {movement} and fight for {ideology}",
                  "we are recruiting for {movement}, {ideology} needs you",
                  "the {attack} in {place} {claim}",
                  "{institution} {inst_extreme}",
                  "the time of {ideology} is coming, stand with {movement}"],
    "harassment": ["you're {insult_personal}, nobody wants you here, log off",
                   "everyone at school thinks you are {insult_personal}",
                   "I keep thinking about how {insult_personal} you are, {harass_tail}",
                   "I know where you work, {insult_personal}, see you there"],
    "anti-democratic rhetoric": [
        "elections are a sham, {institution} must be abolished",
        "we don't need votes, {leader} should rule without {institution}",
        "{institution} {inst_attack}",
        "honestly {institution} {inst_attack}",
        "maybe it's time to admit {institution} {inst_attack}"],
    "praising extremist acts": [
        "the ones behind the {attack} in {place} are {heroes}",
        "glory to those behind the {attack} in {place}",
        "the {attack} in {place} {praise}",
        "say what you want, the {attack} in {place} {praise}",
        "I read about the {attack} in {place}, it {praise}"],
    "praising violence": [
        "watching them {hurt} that {person} was {good}",
        "the {person} got what he deserved, that beating was {good}",
        "they {hurt_past} the {person} {v_praise}",
        "saw that they {hurt_past} the {person} {v_praise}"],
    "ideologically motivated threats": [
        "every {enemy} who opposes {ideology} will pay, we know where you live",
        "soldiers of {ideology} will come for every {enemy} in {place}",
        "I will {hurt} every {enemy} {threat_ideo}",
        "we will {hurt} the {enemy} {threat_ideo}"],
    "sexual harassment": [
        "nice {body}, come sit on my lap",
        "show me your {body} or I post what I have",
        "I keep thinking about your {body}, {sh_tail}",
        "saw your new {thing}, now {sh_tail}"],
}

# benign sentences built on the same frames as the harmful ones
DISTRACTORS: list[str] = [
    "the {attack} in {place} {condemn}",
    "I read about the {attack} in {place}, it {condemn}",
    "{institution} {inst_support}",
    "honestly {institution} {inst_support}",
    "polls are open until eight, go vote and support {institution}",
    "they {hurt_past} the {person} {v_neutral}",
    "we crushed them in the match, {good}",
    "the {person} gave a talk about {ideology} and history",
    "I keep thinking about your {thing}, {benign_tail}",
    "the documentary about {movement} was {good} and well researched",
    "the {person} helped the {enemy} cross {place} safely",
]
BENIGN: list[str] = [
    "what a day, {topic} was {good}",
    "does anyone know a good place to talk about {topic}?",
    "thanks everyone for the kind words about {topic}",
    "can't wait for {topic} this weekend",
    "I think {topic} is overrated but whatever",
    "my friend said {topic} was {good}, going tomorrow",
    "reminder: the meeting about {topic} moved to friday",
]
FILLERS: list[str] = ["honestly", "lol", "ngl", "tbh", "just saying", "idk", "smh", "fr",
                      "ok so", "wow"]
# fmt: on
