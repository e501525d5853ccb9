PRESETS=[]
class Preset: pass
def preset(name): pass
