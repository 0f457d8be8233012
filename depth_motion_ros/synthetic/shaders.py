"""GLSL of the renderer: geometry with exact ground truth, procedural textures, and the sky.

Ground truth needs no texture lookups: the vertex shader passes the view-space z and the object motion
(`u_motion` applied to the vertex), both affine functions of the surface point on a planar face, so the
rasteriser's perspective-correct interpolation gives their exact value at each pixel centre. Textures are
functions of a surface point in the object's own frame (they move with the object, so a point keeps its
colour), band-limited by the pixel footprint (octaves finer than a pixel fade to their mean, a cheap
mip-map) so distant surfaces do not alias from frame to frame.
"""
from depth_motion_ros.synthetic.street import ROAD_HALF_WIDTH, SIDEWALK_TO

VERTEX = """
#version 330
uniform mat4 u_projection;
uniform mat4 u_modelview;   // object -> camera t (optical frame)
uniform mat4 u_motion;      // object -> displacement t..t+1 in camera t+1 (rows 0-2; row 3 unused)
uniform mat3 u_rotation;    // object -> world rotation, for lighting
in vec3 a_position;
in vec3 a_normal;
in vec3 a_surface;
in vec3 a_face;
in float a_material;
in vec3 a_colour;
in float a_seed;
out float v_z;
out vec3 v_motion;
out vec3 v_surface;
flat out vec3 v_face;
flat out vec3 v_normal;
flat out int v_material;
flat out vec3 v_colour;
flat out uint v_seed;
void main() {
    vec4 view = u_modelview * vec4(a_position, 1.0);
    v_z = view.z;
    v_motion = (u_motion * vec4(a_position, 1.0)).xyz;
    v_surface = a_surface;
    v_face = a_face;
    v_normal = normalize(u_rotation * a_normal);
    v_material = int(a_material + 0.5);
    v_colour = a_colour;
    v_seed = uint(a_seed + 0.5);
    gl_Position = u_projection * view;
}
"""

_NOISE = """
float hash(ivec2 p, uint seed) {
    uint h = uint(p.x) * 374761393u + uint(p.y) * 668265263u + seed * 2246822519u;
    h = (h ^ (h >> 13)) * 1274126177u;
    h = h ^ (h >> 16);
    return float(h) * (1.0 / 4294967296.0);
}
float hash1(uint seed, uint salt) { return hash(ivec2(int(salt), 17), seed); }
float vnoise(vec2 x, uint seed) {
    vec2 i = floor(x);
    vec2 f = x - i;
    vec2 u = f * f * (3.0 - 2.0 * f);
    ivec2 c = ivec2(i);
    float a = hash(c, seed), b = hash(c + ivec2(1, 0), seed);
    float d = hash(c + ivec2(0, 1), seed), e = hash(c + ivec2(1, 1), seed);
    return mix(mix(a, b, u.x), mix(d, e, u.x), u.y);
}
float nyquist(float frequency, float footprint) { return clamp(2.0 - 4.0 * frequency * footprint, 0.0, 1.0); }
float fbm(vec2 x, float footprint, uint seed, float frequency, int octaves) {
    float total = 0.0, norm = 0.0, amplitude = 1.0;
    for (int k = 0; k < octaves; k++) {
        float w = nyquist(frequency, footprint);
        total += amplitude * (0.5 + w * (vnoise(x * frequency, seed + uint(7919 * k)) - 0.5));
        norm += amplitude;
        amplitude *= 0.55;
        frequency *= 2.0;
    }
    return total / norm;
}
float coverage(float c, float lo, float hi, float footprint) {
    float half_ = 0.5 * max(footprint, 1e-6);
    return clamp((c + half_ - lo) / (2.0 * half_), 0.0, 1.0) - clamp((c + half_ - hi) / (2.0 * half_), 0.0, 1.0);
}
float periodic(float c, float period, float lo, float hi, float footprint) {
    float phase = mod(c, period);
    float inside = clamp(coverage(phase, lo, hi, footprint) + coverage(phase - period, lo, hi, footprint), 0.0, 1.0);
    float mean = (hi - lo) / period;
    return mean + nyquist(1.0 / period, footprint) * (inside - mean);
}
"""

FRAGMENT = """
#version 330
uniform float u_mover_id;
uniform int u_depth_only;
uniform float u_exposure;
uniform float u_light;
uniform float u_ambient;
uniform vec3 u_light_direction;   // towards the light (world, unit)
uniform float u_roads_x[64];
uniform int u_roads_x_count;
uniform float u_roads_z[64];
uniform int u_roads_z_count;
in float v_z;
in vec3 v_motion;
in vec3 v_surface;
flat in vec3 v_face;
flat in vec3 v_normal;
flat in int v_material;
flat in vec3 v_colour;
flat in uint v_seed;
layout(location = 0) out vec4 o_colour;
layout(location = 1) out vec4 o_geometry;
layout(location = 2) out float o_mover;
""" + _NOISE + """
const float ROAD = """ + repr(ROAD_HALF_WIDTH) + """;
const float SIDEWALK = """ + repr(SIDEWALK_TO) + """;

vec2 face_uv(vec3 p, vec3 n) {
    vec3 a = abs(n);
    if (a.y > 0.5) return p.xz;
    if (a.x > 0.5) return vec2(p.z, -p.y);
    return vec2(p.x, -p.y);
}

float nearest_road(float c, int which, out float signed_offset) {
    float best = 1e9;
    signed_offset = 1e9;
    int count = which == 0 ? u_roads_x_count : u_roads_z_count;
    for (int i = 0; i < count; i++) {
        float d = c - (which == 0 ? u_roads_x[i] : u_roads_z[i]);
        if (abs(d) < best) { best = abs(d); signed_offset = d; }
    }
    return best;
}

// Lane markings of a road: `lateral` across it from its centre line, `along` it, `to_junction` the distance
// to the nearest crossing road's centre line (crosswalks there).
vec3 road_surface(float lateral, float along, float to_junction, float fp, vec3 asphalt) {
    float a = abs(lateral);
    float dashes = periodic(along, 9.0, 0.0, 3.0, fp);
    float marking = max(coverage(a, 0.0, 0.12, fp), coverage(abs(a - 3.35), 0.0, 0.08, fp) * dashes);
    marking = max(marking, coverage(a, 6.15, 6.3, fp));
    float zebra = coverage(to_junction, 9.3, 11.7, fp) * periodic(lateral, 1.0, 0.0, 0.5, fp)
                  * coverage(a, 0.0, 6.2, fp);
    marking = max(marking, zebra);
    marking *= 1.0 - coverage(to_junction, 0.0, ROAD, fp);
    return mix(asphalt, vec3(0.92, 0.90, 0.80), marking);
}

vec3 ground(vec2 p, float fp) {
    float ox, oz;
    float dx = nearest_road(p.x, 0, ox);
    float dz = nearest_road(p.y, 1, oz);
    float grain = fbm(p, fp, v_seed, 0.35, 8);
    vec3 asphalt = vec3(0.30, 0.30, 0.32) * (0.55 + 0.9 * grain);
    float patches = fbm(p, fp, v_seed + 5u, 0.05, 3);
    asphalt *= 0.85 + 0.3 * patches;
    vec3 colour;
    if (dx < ROAD && dz < ROAD) {
        colour = asphalt;
    } else if (dx < ROAD) {
        colour = road_surface(ox, p.y, dz, fp, asphalt);
    } else if (dz < ROAD) {
        colour = road_surface(oz, p.x, dx, fp, asphalt);
    } else if (dx < SIDEWALK || dz < SIDEWALK) {
        float joints = max(periodic(p.x, 1.5, 0.0, 0.05, fp), periodic(p.y, 1.5, 0.0, 0.05, fp));
        float tone = 0.8 + 0.4 * hash(ivec2(floor(p / 1.5)), v_seed + 3u);
        colour = vec3(0.62, 0.58, 0.55) * tone * (0.7 + 0.5 * grain) * (1.0 - 0.45 * joints);
        float kerb = coverage(min(dx, dz), ROAD, ROAD + 0.25, fp);
        colour = mix(colour, vec3(0.75, 0.74, 0.72), kerb);
    } else {
        colour = vec3(0.30, 0.38, 0.18) * (0.5 + 1.0 * fbm(p, fp, v_seed + 9u, 1.5, 6));
    }
    return colour;
}

vec3 facade(vec2 uv, float fp, bool roof) {
    float grain = fbm(uv, fp, v_seed, 0.5, 7);
    if (roof) return vec3(0.4, 0.4, 0.42) * (0.5 + grain);
    vec3 wall = v_colour * (0.6 + 0.8 * grain);
    if (hash1(v_seed, 1u) < 0.4) {   // brick
        float row = floor(uv.y / 0.075);
        float mortar = max(periodic(uv.y, 0.075, 0.0, 0.012, fp),
                           periodic(uv.x + 0.125 * mod(row, 2.0), 0.25, 0.0, 0.012, fp));
        float brick = floor((uv.x + 0.125 * mod(row, 2.0)) / 0.25);
        wall *= (0.85 + 0.3 * hash(ivec2(brick, row), v_seed)) * (1.0 - 0.4 * mortar);
    }
    float px = 2.4 + 1.8 * hash1(v_seed, 2u), py = 3.0 + 0.6 * hash1(v_seed, 3u);
    float wx = px * (0.3 + 0.4 * hash1(v_seed, 4u)), wy = py * (0.35 + 0.35 * hash1(v_seed, 5u));
    float x0 = 0.5 * (px - wx), y0 = 0.5 * (py - wy) + 0.3;
    float window = periodic(uv.x, px, x0, x0 + wx, fp) * periodic(uv.y, py, y0, y0 + wy, fp);
    float frame = periodic(uv.x, px, x0 - 0.1, x0 + wx + 0.1, fp) * periodic(uv.y, py, y0 - 0.1, y0 + wy + 0.1, fp);
    float lit = hash(ivec2(floor(uv.x / px), floor(uv.y / py)), v_seed + 11u);
    vec3 glass = vec3(0.16, 0.2, 0.27) * (0.5 + 1.2 * fbm(uv * vec2(1.0, 0.4), fp, v_seed + 1u, 1.3, 4))
                 + (lit > 0.85 ? vec3(0.35, 0.3, 0.15) : vec3(0.0));
    vec3 colour = mix(wall, vec3(0.85, 0.85, 0.82) * (0.7 + 0.3 * grain), frame - window);
    colour = mix(colour, glass, window);
    float shop = coverage(uv.y, -1e9, 3.4, fp);
    float shop_window = periodic(uv.x, 6.0, 0.6, 4.8, fp) * coverage(uv.y, 0.4, 2.8, fp);
    vec3 ground_floor = mix(v_colour * 0.55 * (0.7 + 0.6 * grain), glass * 1.3, shop_window);
    return mix(colour, ground_floor, shop);
}

vec3 material_colour(vec2 uv, float fp, bool horizontal, bool top) {
    int m = v_material;
    if (m == 0) return ground(v_surface.xz, fp);
    if (m == 1) return facade(uv, fp, horizontal);
    if (m == 2) {   // car paint
        float grain = fbm(uv, fp, v_seed, 1.0, 5);
        vec3 paint = v_colour * (0.7 + 0.6 * grain);
        float seam = periodic(uv.x, 1.1, 0.0, 0.03, fp) * (horizontal ? 0.0 : 1.0);
        float trim = coverage(uv.y, 0.45, 0.52, fp);
        return paint * (1.0 - 0.5 * seam) * (1.0 - 0.6 * trim);
    }
    if (m == 3) {   // glass
        float streaks = fbm(uv * vec2(0.5, 2.0), fp, v_seed, 2.0, 4);
        return vec3(0.12, 0.15, 0.2) * (0.5 + 1.5 * streaks) + (top ? vec3(0.08) : vec3(0.0));
    }
    if (m == 4) return vec3(0.05) * (0.6 + 0.8 * fbm(uv, fp, v_seed, 6.0, 3));   // rubber
    if (m == 5) {   // fabric: weave, and stripes or checks on some garments
        float weave = fbm(uv, fp, v_seed, 8.0, 4);
        float checks = periodic(uv.x, 0.1, 0.0, 0.05, fp) * periodic(uv.y, 0.1, 0.0, 0.05, fp);
        float pattern = hash1(v_seed, 7u) < 0.3 ? periodic(uv.y, 0.12, 0.0, 0.06, fp)
                                                : (hash1(v_seed, 7u) < 0.5 ? checks : 0.0);
        return v_colour * (0.6 + 0.6 * weave) * (1.0 - 0.35 * pattern);
    }
    if (m == 6) return v_colour * (0.8 + 0.4 * fbm(uv, fp, v_seed, 5.0, 3));      // skin
    if (m == 7) return v_colour * (0.5 + 1.0 * fbm(uv * vec2(6.0, 0.6), fp, v_seed, 2.0, 5));   // bark
    if (m == 8) return v_colour * (0.35 + 1.3 * fbm(uv, fp, v_seed, 3.0, 6));     // foliage
    if (m == 9) return v_colour * (0.75 + 0.5 * fbm(uv, fp, v_seed, 2.0, 4));     // metal
    if (m == 10) {  // plaster, sometimes striped wallpaper; a skirting board
        float grain = fbm(uv, fp, v_seed, 0.8, 7);
        vec3 wall = v_colour * (0.8 + 0.4 * grain);
        if (hash1(v_seed, 2u) < 0.4) {
            float period = 0.08 + 0.3 * hash1(v_seed, 3u);
            wall *= 1.0 - 0.25 * periodic(uv.x, period, 0.0, 0.5 * period, fp);
        }
        float skirting = horizontal ? 0.0 : coverage(uv.y, -1e9, 0.1, fp);
        return mix(wall, vec3(0.9, 0.88, 0.85) * (0.8 + 0.3 * grain), skirting);
    }
    if (m == 11) {  // wooden floor: planks with their own tone, joints and grain
        float width = 0.1 + 0.12 * hash1(v_seed, 2u);
        float plank = floor(uv.x / width);
        float length_ = 1.2 + hash1(v_seed, 3u);
        float shift = hash(ivec2(plank, 3), v_seed) * length_;
        float joint = max(periodic(uv.x, width, 0.0, 0.008, fp), periodic(uv.y + shift, length_, 0.0, 0.01, fp));
        float tone = 0.7 + 0.5 * hash(ivec2(plank, floor((uv.y + shift) / length_)), v_seed);
        float grain = fbm(vec2(uv.x * 30.0, uv.y * 1.5), fp * 30.0, v_seed + 1u, 1.0, 5);
        return v_colour * tone * (0.7 + 0.5 * grain) * (1.0 - 0.6 * joint);
    }
    if (m == 12) {  // tiles
        float size = 0.2 + 0.4 * hash1(v_seed, 2u);
        float grout = max(periodic(uv.x, size, 0.0, 0.01, fp), periodic(uv.y, size, 0.0, 0.01, fp));
        float tone = 0.8 + 0.35 * hash(ivec2(floor(uv / size)), v_seed);
        return mix(v_colour * tone * (0.8 + 0.4 * fbm(uv, fp, v_seed, 3.0, 5)), vec3(0.35), grout);
    }
    if (m == 13) {  // furniture wood
        float grain = fbm(vec2(uv.x * 12.0, uv.y * 0.8), fp * 12.0, v_seed, 1.0, 5);
        return v_colour * (0.65 + 0.6 * grain);
    }
    if (m == 14) {  // pattern: posters, rugs, cushions, books (coloured cells at two scales)
        float cell = 0.04 + 0.2 * hash1(v_seed, 2u);
        vec2 c = floor(uv / cell);
        vec3 random_colour = vec3(hash(ivec2(c), v_seed), hash(ivec2(c), v_seed + 1u), hash(ivec2(c), v_seed + 2u));
        float w = nyquist(1.0 / cell, fp);
        vec3 mean = vec3(0.5);
        vec3 cells = mix(mean, random_colour, w);
        vec3 big = vec3(hash(ivec2(floor(uv / (cell * 5.0))), v_seed + 3u));
        return mix(v_colour, cells, 0.6) * (0.6 + 0.6 * big) * (0.8 + 0.4 * fbm(uv, fp, v_seed + 4u, 4.0, 4));
    }
    return v_colour * (0.85 + 0.25 * fbm(uv, fp, v_seed, 0.7, 5));   // ceiling
}

void main() {
    if (u_depth_only == 1) {   // the depth pre-pass: later, each pixel is shaded once
        o_colour = vec4(0.0);
        o_geometry = vec4(0.0);
        o_mover = 0.0;
        return;
    }
    vec2 uv = face_uv(v_surface, v_face);
    float fp = max(length(dFdx(v_surface)), length(dFdy(v_surface)));
    bool horizontal = abs(v_face.y) > 0.5;
    vec3 albedo = material_colour(uv, fp, horizontal, v_face.y < -0.5);
    float diffuse = max(dot(v_normal, u_light_direction), 0.0);
    vec3 colour = albedo * (u_ambient + u_light * diffuse) * u_exposure;
    o_colour = vec4(clamp(colour, 0.0, 1.0), 1.0);
    o_geometry = vec4(v_motion, v_z);
    o_mover = u_mover_id;
}
"""

SKY_VERTEX = """
#version 330
in vec2 a_corner;
void main() { gl_Position = vec4(a_corner, 0.0, 1.0); }
"""

SKY_FRAGMENT = """
#version 330
uniform mat3 u_ray;         // pixel (u, v, 1) -> world direction
uniform float u_exposure;
uniform uint u_seed;
layout(location = 0) out vec4 o_colour;
layout(location = 1) out vec4 o_geometry;
layout(location = 2) out float o_mover;
""" + _NOISE + """
void main() {
    vec3 d = normalize(u_ray * vec3(gl_FragCoord.xy - 0.5, 1.0));
    float elevation = clamp(-d.y, 0.0, 1.0);
    vec3 colour = mix(vec3(0.85, 0.88, 0.92), vec3(0.35, 0.55, 0.85), elevation);
    float up = max(-d.y, 0.05);
    vec2 p = d.xz / up;
    float fp = max(length(dFdx(p)), length(dFdy(p)));
    float clouds = fbm(p, fp, u_seed, 0.6, 5);
    colour = mix(colour, vec3(0.95, 0.95, 0.97), clamp((clouds - 0.45) * 3.0, 0.0, 1.0));
    o_colour = vec4(clamp(colour * u_exposure, 0.0, 1.0), 1.0);
    o_geometry = vec4(0.0);
    o_mover = -1.0;
}
"""
